import { CompiledQuery, type Kysely } from 'kysely'
import { holdNow, type RunNow, runNowOf } from './run-now.ts'
import type { Schema } from './schema.ts'

/** One open transaction: its queries, and what is to happen once it is safe on disk. */
export interface Transaction {
  /** Queries inside the transaction. */
  db: Kysely<Schema>
  /**
   * Runs `hook` after the commit is durable, and never if the transaction rolls back: how a queue hears of jobs
   * that now exist (wake a runner, hand them to BullMQ) without ever hearing of ones that do not.
   */
  afterCommit(hook: () => void): void
  /**
   * A write whose answer the work does not need (an insert of rows it made itself). It may be sent later than it is
   * asked for, at the latest with the commit, but in its order among the transaction's statements; if it fails, the
   * transaction fails with its error. On PostgreSQL a transaction of such writes alone is one round trip.
   */
  write(query: CompiledQuery): void
}

/**
 * Transaction.write where each statement runs as it comes (SQLite): at once, on the connection the group holds. The
 * first failure is kept, the writes after it are skipped (the piece is rolled back anyway), and settled() throws it
 * before the piece's savepoint is let go.
 */
function writesAtOnce(run: RunNow) {
  let failure: { err: unknown } | undefined
  return {
    write(query: CompiledQuery) {
      if (failure) return
      try {
        run(query)
      } catch (err) {
        failure = { err }
      }
    },
    settled() {
      if (failure) throw failure.err
    },
  }
}

export type Work<T> = (tx: Transaction) => Promise<T>

// Hooks are the queue's own bookkeeping (a wake-up, a hand-over that catches its own failure) and must not
// throw: the work has committed, and its caller must not hear otherwise.
const runHooks = (hooks: (() => void)[]) => {
  for (const hook of hooks) hook()
}

interface Queued {
  work: Work<unknown>
  /** Whether its caller waits for the fsync too (acceptances), or only for the commit (bookkeeping). */
  durable: boolean
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

/**
 * How long a group takes new pieces before it commits. better-sqlite3 is synchronous and a piece's awaits resolve as
 * microtasks, so a group runs in one stretch of the event loop: unbounded, a group under a signup flood with the mail
 * lane's outcomes held the loop for 10–15 ms at a time, which set phase 4's event-loop p99 (src/bench/RESULTS.md, the
 * group commit's budget). The pieces left over go first in the next group, after the loop has turned.
 */
export const GROUP_BUDGET_MS = 4

// A piece's savepoint, run at once on the connection (run-now.ts): Kysely's savepoint() makes a transaction object of
// its own for each.
const SAVEPOINT = CompiledQuery.raw('SAVEPOINT piece')
const RELEASE = CompiledQuery.raw('RELEASE piece')
const ROLLBACK_TO = CompiledQuery.raw('ROLLBACK TO piece')

/**
 * SQLite's transactions, grouped: the work that arrives in one turn of the event loop runs in one transaction,
 * each piece in a savepoint of its own, and commits once. A piece that fails is rolled back to its savepoint and
 * fails alone (an address already taken fails that signup, not its neighbours); a COMMIT or fsync that fails
 * fails the whole group, as it would have failed each of them. SQLite has one writer and commits one at a time
 * anyway; a commit writes every page its transaction touched, so ten signups in one commit write the pages they
 * share once, and pay one commit instead of ten: the commit had been a large share of the statements' time under a
 * signup flood (src/bench/RESULTS.md, what was tried). Work that arrives while a group runs waits for the next one, and
 * a group runs its pieces for at most GROUP_BUDGET_MS. While a group holds the connection, the statements of its pieces
 * run at once on it (run-now.ts); everything else waits for Kysely's connection, as before.
 */
export class GroupCommit {
  readonly #db: Kysely<Schema>
  readonly #runNow: RunNow
  readonly #durable: () => Promise<void>
  readonly #budgetMs: number
  #queued: Queued[] = []
  #running = false

  /** `db` is a SQLite database opened by openDatabase (it runs statements at once: run-now.ts). */
  constructor(db: Kysely<Schema>, durable: () => Promise<void>, budgetMs = GROUP_BUDGET_MS) {
    const runNow = runNowOf(db)
    if (!runNow) throw new Error('GroupCommit needs a SQLite database opened by openDatabase')
    this.#db = db
    this.#runNow = runNow
    this.#durable = durable
    this.#budgetMs = budgetMs
  }

  /**
   * Runs `work` in the next group; resolves once it has committed and, when `durable`, is on disk. Bookkeeping
   * (claims, outcomes) need not wait for the fsync: lost to a power cut, a job only runs again. It is one
   * statement, so it runs without a savepoint of its own.
   */
  run<T>(work: Work<T>, durable = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queued.push({ work, durable, resolve: resolve as (value: unknown) => void, reject })
      if (this.#running) return
      this.#running = true
      setImmediate(() => void this.#drain())
    })
  }

  async #drain(): Promise<void> {
    while (this.#queued.length > 0) {
      const group = this.#queued
      this.#queued = []
      const left = await this.#commit(group)
      if (left.length > 0) this.#queued = [...left, ...this.#queued]
      // Between groups the loop turns (requests, timers): otherwise the pieces that the last commit's callers
      // queued at once would run in the same stretch, one group after another.
      if (this.#queued.length > 0) await new Promise((resolve) => setImmediate(resolve))
    }
    this.#running = false
  }

  /** Commits the pieces of `group` it reaches within its budget, and returns those it did not reach. */
  async #commit(group: Queued[]): Promise<Queued[]> {
    const done: { item: Queued; result: unknown; hooks: (() => void)[] }[] = []
    const failed = new Set<Queued>()
    let left: Queued[] = []
    let tx: Awaited<ReturnType<ReturnType<Kysely<Schema>['startTransaction']>['execute']>> | undefined
    let letGo = () => {}
    const run = this.#runNow
    try {
      tx = await this.#db.startTransaction().execute()
      letGo = holdNow(tx, run)
      const started = performance.now()
      for (const [index, item] of group.entries()) {
        if (index > 0 && performance.now() - started >= this.#budgetMs) {
          left = group.slice(index)
          break
        }
        const hooks: (() => void)[] = []
        const afterCommit = (hook: () => void) => hooks.push(hook)
        const writes = writesAtOnce(run)
        const piece = { db: tx, afterCommit, write: writes.write }
        if (!item.durable) {
          // Bookkeeping is one statement: one that fails leaves nothing behind (SQLite undoes a failed statement
          // on its own), so it needs no savepoint.
          try {
            const result = await item.work(piece)
            writes.settled()
            done.push({ item, result, hooks })
          } catch (err) {
            failed.add(item)
            item.reject(err)
          }
          continue
        }
        run(SAVEPOINT)
        try {
          const result = await item.work(piece)
          writes.settled()
          run(RELEASE)
          done.push({ item, result, hooks })
        } catch (err) {
          let undone = true
          try {
            run(ROLLBACK_TO)
            run(RELEASE)
          } catch {
            undone = false
          }
          // No savepoint to go back to: SQLite rolled the whole transaction back (a full disk). The group fails
          // with this error, which says why.
          if (!undone) throw err
          failed.add(item)
          item.reject(err)
        }
      }
      letGo()
      await tx.commit().execute()
    } catch (err) {
      letGo()
      await tx
        ?.rollback()
        .execute()
        .catch(() => {})
      // The pieces it had not reached were not in this transaction: they go to the next group.
      for (const item of group.slice(0, group.length - left.length)) if (!failed.has(item)) item.reject(err)
      return left
    }
    const settle = (pieces: typeof done) => {
      for (const { item, result, hooks } of pieces) {
        runHooks(hooks)
        item.resolve(result)
      }
    }
    settle(done.filter(({ item }) => !item.durable))
    const waiting = done.filter(({ item }) => item.durable)
    if (waiting.length === 0) return left
    // The next group may start its transaction while this one's fsync runs: the WAL syncer gives the commits
    // that wait together one fsync.
    this.#durable().then(
      () => settle(waiting),
      (err) => {
        for (const { item } of waiting) item.reject(err)
      },
    )
    return left
  }
}
