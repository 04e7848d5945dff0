import type { Kysely } from 'kysely'
import type { WatchErrors } from '../error-events.ts'
import type { Schema } from './schema.ts'
import type { Work } from './transaction.ts'

/*
 * What the rest of the service sees of the database, SQLite or PostgreSQL (database.ts opens one; postgres.ts is
 * loaded only for DATABASE_URL and needs these types without database.ts).
 */

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
  /** SQLite with SQLITE_SYNCHRONOUS=FULL: each WAL fsync's time, in seconds, as the commits it served waited. */
  onFsync?(listener: (seconds: number) => void): void
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
  /** SQLite: how long one group commit takes pieces (GroupCommit); GROUP_BUDGET_MS unless a test lifts it. */
  groupBudgetMs?: number
}
