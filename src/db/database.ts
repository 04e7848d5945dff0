import path from 'node:path'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import Sqlite from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely'
import pg from 'pg'
import type { WatchErrors } from '../error-events.ts'
import { type DataDirLock, lockDataDir } from './data-dir-lock.ts'
import { migrateToLatest } from './migrations.ts'
import { pipelinedTransactions } from './pg-transaction.ts'
import type { Schema } from './schema.ts'
import { holdStatements } from './sqlite-handles.ts'
import { GroupCommit, type Transaction, type Work } from './transaction.ts'
import { WriteBatch } from './write-batch.ts'

export type { Transaction }

import { WalSyncer } from './wal-sync.ts'

export type Db = Kysely<Schema>
export type Dialect = 'sqlite' | 'postgres'

export interface Database {
  db: Db
  dialect: Dialect
  /** Where the data lives, for the start-up log (no password). */
  describe: string
  /** Answers a trivial query, or throws: the readiness probe. */
  ping(): Promise<void>
  /**
   * Resolves once every commit made so far would survive a power cut. Whatever a client is told was accepted
   * waits for this first; job bookkeeping does not (lost to a power cut, a job only runs again, as after any
   * crash). SQLite commits with synchronous NORMAL and this fsyncs the WAL on another thread; PostgreSQL's
   * commits are durable already.
   */
  durable(): Promise<void>
  /** SQLite with SQLITE_SYNCHRONOUS=FULL: waits for durability, and the fsyncs that served them. */
  syncStats?(): { requested: number; fsyncs: number }
  /**
   * Gives pages that deletes freed back to the file system, a bounded step at a time until `stopping()`; returns
   * how many. SQLite files made with incremental auto-vacuum only; PostgreSQL's autovacuum does its own.
   */
  reclaimSpace(stopping: () => boolean): Promise<number>
  /** See transact(). */
  transact<T>(work: Work<T>): Promise<T>
  /**
   * A bookkeeping write (a claim, a job's outcome), one statement: committed with whatever else this turn of the
   * event loop writes, resolved once committed, without waiting for the fsync (lost to a power cut, a job runs
   * again).
   */
  record<T>(write: (db: Db) => Promise<T>): Promise<T>
  close(): Promise<void>
}

export interface OpenOptions {
  /** postgres://… puts everything in PostgreSQL; unset means the SQLite file. */
  url: string | undefined
  sqliteFile: string
  synchronous: 'FULL' | 'NORMAL'
  /** PostgreSQL connections this process may hold. */
  poolSize: number
  /** Listens for 'error' on the PostgreSQL pool and the WAL fsync thread. */
  watchErrors: WatchErrors
  /**
   * PostgreSQL: longest wait for a connection (a new one, or a free one of the pool) and for one statement's
   * answer, so that a request meets a server that is away or hung with an error in bounded time
   * (DEPENDENCY_TIMEOUT_MS). Migrations are not bound by it.
   */
  timeoutMs: number
}

// int8 (bigint) columns and count(*) arrive as strings by default; every bigint here is an epoch-ms time or a
// count, well inside 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, Number)

/*
 * Pages given back per step of reclaimSpace(): 1 MiB at SQLite's 4 KiB pages. A step is one write transaction on
 * the event loop, so steps are kept small; what a step costs is measured in src/bench/RESULTS.md (The retention
 * sweep).
 */
const RECLAIM_PAGES_PER_STEP = 250

/** The size the WAL file is truncated back to after a checkpoint let it grow past it (see openSqlite). */
export const WAL_SIZE_LIMIT_BYTES = 8 * 1024 * 1024

/** Opens SQLite or PostgreSQL behind one Kysely instance, migrated to the latest schema. */
export async function openDatabase(options: OpenOptions): Promise<Database> {
  const sqlite = options.url ? undefined : openSqlite(options)
  const database = sqlite?.database ?? openPostgres(options.url as string, options)
  try {
    if (options.url) await migratePostgres(options.url, options.timeoutMs)
    else await migrateToLatest(database.db as Kysely<unknown>, { schemaEdits: sqlite?.schemaEdits })
  } catch (err) {
    await database.close()
    throw err
  }
  return database
}

interface OpenedSqlite {
  database: Database
  /** Lifts SQLite's defensive mode for a migration that edits sqlite_schema (MigrationHooks), and restores it. */
  schemaEdits(allowed: boolean): void
}

function openSqlite(options: OpenOptions): OpenedSqlite {
  // Before the journal is opened: a second process must not so much as read it as if it were its own.
  const lock = lockDataDir(path.dirname(options.sqliteFile))
  try {
    return openLockedSqlite(options, lock)
  } catch (err) {
    lock.release()
    throw err
  }
}

function openLockedSqlite(options: OpenOptions, lock: DataDirLock): OpenedSqlite {
  const sqlite = new Sqlite(options.sqliteFile)
  const statements = holdStatements(sqlite)
  // Pages freed by the retention sweep can go back to the file system (reclaimSpace()) instead of the file
  // keeping its largest size for ever. Takes effect only in a new file, before its first table; a file made
  // before this setting keeps auto_vacuum NONE (see the README for the one-time VACUUM that converts it).
  statements.pragma('auto_vacuum = INCREMENTAL')
  // WAL lets readers (GET /jobs) run while the dispatcher writes; busy_timeout covers a second process
  // (a backup, the sqlite3 shell) holding the lock for a moment.
  statements.pragma('journal_mode = WAL')
  // FULL is kept by fsyncing the WAL off the event loop (durable()), not by SQLite at every commit.
  statements.pragma('synchronous = NORMAL')
  // SQLite keeps the WAL file at the largest size it ever reached; a checkpoint held back for a while (a reader
  // of an old snapshot: a backup, the sqlite3 shell, a monitoring query) would leave it that size for ever. Past
  // this, a checkpoint that restarts the WAL truncates the file: twice what one auto-checkpoint (1,000 pages,
  // 4 MiB) normally lets it reach.
  statements.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`)
  statements.pragma('busy_timeout = 5000')
  statements.pragma('foreign_keys = ON')
  if ((statements.pragma('user_version') as number) > 0) {
    sqlite.close()
    // Version 0.1 numbered its schema in user_version; its data directories are not carried over.
    throw new Error(`${options.sqliteFile} was made by deckhand 0.1 and cannot be read; move it away to start afresh`)
  }
  // Kysely prepares every query anew; held statements are prepared once per text (and never collected).
  const db = new Kysely<Schema>({
    dialect: new SqliteDialect({ database: { prepare: statements.prepare, close: () => sqlite.close() } }),
  })
  const probe = statements.prepare('SELECT 1')
  const syncer =
    options.synchronous === 'FULL' ? new WalSyncer(`${options.sqliteFile}-wal`, options.watchErrors) : undefined
  const durable = syncer ? () => syncer.sync() : async () => {}
  const group = new GroupCommit(db, durable)
  // 2 is INCREMENTAL; a file made without it answers 0 (NONE) here whatever was asked above.
  const incremental = statements.pragma('auto_vacuum') === 2
  const schemaEdits = (allowed: boolean) => {
    sqlite.unsafeMode(allowed)
  }
  const database: Database = {
    db,
    dialect: 'sqlite',
    describe: `SQLite ${options.sqliteFile}`,
    // Straight to better-sqlite3: load balancers ask every few seconds, and this skips the query builder.
    async ping() {
      if (!sqlite.open) throw new Error('database closed')
      probe.get()
    },
    durable,
    transact: (work) => group.run(work),
    record: (write) => group.run((tx) => write(tx.db), false),
    syncStats: syncer && (() => syncer.stats()),
    async reclaimSpace(stopping) {
      if (!incremental) return 0
      let reclaimed = 0
      while (!stopping() && sqlite.open) {
        const free = statements.pragma('freelist_count') as number
        if (free === 0) break
        // A bounded step: it moves pages from the end of the file into free ones, on the event loop. One text
        // whatever is free (SQLite frees at most what there is), so one held statement.
        statements.pragma(`incremental_vacuum(${RECLAIM_PAGES_PER_STEP})`)
        const left = statements.pragma('freelist_count') as number
        if (left >= free) break
        reclaimed += free - left
        await yieldToEventLoop()
      }
      return reclaimed
    },
    async close() {
      try {
        await db.destroy()
        await syncer?.close()
      } finally {
        lock.release()
      }
    },
  }
  return { database, schemaEdits }
}

/**
 * Migrations on a connection of their own, without the statement time limits: a node starting beside another
 * waits on the migrator's lock for as long as the other one migrates, and a migration may take its time.
 */
async function migratePostgres(url: string, connectTimeoutMs: number): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: connectTimeoutMs })
  pool.on('error', () => {})
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) })
  try {
    await migrateToLatest(db)
  } finally {
    await db.destroy()
  }
}

function openPostgres(url: string, options: OpenOptions): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize,
    // Connecting, and waiting for a free connection when all are busy.
    connectionTimeoutMillis: options.timeoutMs,
    // A hung server: node-postgres stops waiting for the answer...
    query_timeout: options.timeoutMs,
    // ...and a slow one cancels the statement itself, so the connection is free again.
    statement_timeout: options.timeoutMs,
    // A transaction's statements go out without waiting for each other's answers (see pipelinedTransactions).
    pipeline: true,
  })
  // A connection that drops (a restarted server) emits 'error' on its client. Idle, the pool hears it, drops the
  // client and emits it again on itself; checked out between two statements of a transaction, nobody else listens,
  // and unheard it would end the process. So each client is watched from its first connect, which counts every
  // such error once; the pool's second emission of the same error needs a listener too, and nothing more.
  pool.on('connect', (client) => options.watchErrors(client, 'pg'))
  pool.on('error', () => {})
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) })
  const bookkeeping = new WriteBatch(db)
  const target = new URL(url)
  return {
    db,
    dialect: 'postgres',
    describe: `PostgreSQL ${target.hostname}:${target.port || 5432}${target.pathname}`,
    async ping() {
      await sql`SELECT 1`.execute(db)
    },
    // Every PostgreSQL commit is durable before it returns.
    durable: async () => {},
    transact: pipelinedTransactions(pool),
    record: (write) => bookkeeping.add(write),
    reclaimSpace: async () => 0,
    close: () => db.destroy(),
  }
}

/** Whether an error is a unique-constraint violation, in either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string }).code
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505'
}

/**
 * Runs `work` in a transaction, durable when this resolves: its writes happen all or not at all, and what it
 * tells a client was accepted is on disk before the client hears so. SQLite groups the transactions of one turn
 * of the event loop into one commit (see GroupCommit); PostgreSQL gives each its own, in as few round trips as
 * its statements allow (see pipelinedTransactions).
 */
export function transact<T>(database: Database, work: Work<T>): Promise<T> {
  return database.transact(work)
}
