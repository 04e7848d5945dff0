import path from 'node:path'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import Sqlite from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { type DataDirLock, lockDataDir } from './data-dir-lock.ts'
import { migrated } from './migrated.ts'
import { migrateToLatest } from './migrations.ts'
import { runsNow } from './run-now.ts'
import type { Schema } from './schema.ts'
import { holdStatements } from './sqlite-handles.ts'
import { GroupCommit, type Transaction, type Work } from './transaction.ts'
import type { Database, Db, Dialect, OpenOptions } from './types.ts'

export type { Transaction }

import { WalSyncer } from './wal-sync.ts'

export type { Database, Db, Dialect, OpenOptions }

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
  if (options.url) {
    // Loaded only when asked for: node-postgres is memory that a process on SQLite would hold for nothing.
    const { openPostgresDatabase } = await import('./postgres.ts')
    return openPostgresDatabase(options.url, options)
  }
  const { database, schemaEdits } = openSqlite(options)
  return migrated(database, () => migrateToLatest(database.db as Kysely<unknown>, { schemaEdits }))
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
  // What Kysely's SQLite driver does with a query, without its executor's layers (run-now.ts).
  runsNow(db, ({ sql, parameters }) => {
    const statement = statements.prepare(sql)
    if (statement.reader) return { rows: statement.all(parameters) }
    const { changes, lastInsertRowid } = statement.run(parameters)
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] }
  })
  const probe = statements.prepare('SELECT 1')
  const syncer =
    options.synchronous === 'FULL' ? new WalSyncer(`${options.sqliteFile}-wal`, options.watchErrors) : undefined
  const durable = syncer ? () => syncer.sync() : async () => {}
  const group = new GroupCommit(db, durable, options.groupBudgetMs)
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
    onFsync: syncer && ((listener) => syncer.onFsync(listener)),
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
