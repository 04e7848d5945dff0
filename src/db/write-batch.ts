import type { Kysely } from 'kysely'
import type { Schema } from './schema.ts'

type Db = Kysely<Schema>

/**
 * PostgreSQL's bookkeeping writes (SQLite groups them with its GroupCommit): writes that arrive in the same turn
 * of the event loop, committed together in one transaction: one commit (one
 * WAL append in SQLite, one fsync in PostgreSQL) for all of them instead of one each. Each caller's promise
 * settles with the commit. If the transaction fails, every write in it fails: callers must be able to
 * take that (job outcomes are: a job whose outcome was not written is released and runs again).
 */
export class WriteBatch {
  readonly #db: Db
  #pending: {
    write: (tx: Db) => Promise<unknown>
    resolve: (value: unknown) => void
    reject: (err: unknown) => void
  }[] = []
  #scheduled = false

  constructor(db: Db) {
    this.#db = db
  }

  /** Runs `write` inside the next batch's transaction; resolves with its result once that has committed. */
  add<T>(write: (tx: Db) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ write, resolve: resolve as (value: unknown) => void, reject })
      if (this.#scheduled) return
      this.#scheduled = true
      setImmediate(() => void this.#flush())
    })
  }

  async #flush(): Promise<void> {
    this.#scheduled = false
    const batch = this.#pending
    this.#pending = []
    try {
      const results = await this.#db.transaction().execute(async (tx) => {
        const out: unknown[] = []
        for (const { write } of batch) out.push(await write(tx))
        return out
      })
      for (const [i, { resolve }] of batch.entries()) resolve(results[i])
    } catch (err) {
      for (const { reject } of batch) reject(err)
    }
  }
}
