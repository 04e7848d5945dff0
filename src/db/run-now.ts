import type { CompiledQuery, Kysely, QueryResult } from 'kysely'
import type { Schema } from './schema.ts'

type Db = Kysely<Schema>

/**
 * Runs a compiled query at once on the connection, as Kysely's SQLite driver would (the same result), synchronously:
 * better-sqlite3 is synchronous, and Kysely's executor only wraps it in layers of promises and connection providers.
 * Those layers were a fifth of the event loop's allocations under a signup flood, and a quarter of the CPU of the
 * statements they carried (src/bench/RESULTS.md, statements at once).
 */
export type RunNow = (query: CompiledQuery) => QueryResult<unknown>

/** The SQLite databases deckhand opened (their root Kysely), each with its connection's RunNow. */
const byDatabase = new WeakMap<Db, RunNow>()
/** The transactions a GroupCommit holds open, on the one connection of their database. */
const byTransaction = new WeakMap<Db, RunNow>()

/** Records that `db`'s one connection runs queries through `run` (openSqlite). */
export function runsNow(db: Db, run: RunNow): void {
  byDatabase.set(db, run)
}

/** The RunNow of a SQLite database opened by deckhand, or undefined for any other. */
export function runNowOf(db: Db): RunNow | undefined {
  return byDatabase.get(db)
}

/**
 * Lets `execute` run the queries of `tx` at once while `tx` holds the connection: only then is running them at once
 * the same as Kysely running them (in the transaction, in the order they are asked for). A query on the database
 * itself still goes through Kysely, which waits for the connection: run at once, it would read the open transaction's
 * uncommitted rows. Returns what ends it, at the commit or rollback: a query on `tx` after that goes through Kysely
 * again, which refuses it.
 */
export function holdNow(tx: Db, run: RunNow): () => void {
  byTransaction.set(tx, run)
  return () => byTransaction.delete(tx)
}

/**
 * Runs `query` on `db`: at once inside a transaction that a GroupCommit holds, through Kysely otherwise. At once, a
 * query runs when it is asked for, not when the queries asked before it have run: callers inside a transaction
 * await each query before the next, as every transaction's work here does.
 */
export function execute<R>(db: Db, query: CompiledQuery<R>): Promise<QueryResult<R>> {
  const run = byTransaction.get(db)
  if (!run) return db.executeQuery(query)
  try {
    return Promise.resolve(run(query) as QueryResult<R>)
  } catch (err) {
    return Promise.reject(err)
  }
}
