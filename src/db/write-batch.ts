import type { Db } from './database.ts'

/**
 * Writes that arrive in the same turn of the event loop, committed together in one transaction: one commit (one
 * WAL append in SQLite, one fsync in PostgreSQL) for all of them instead of one each. Each caller's promise
 * settles with the commit. If the transaction fails, every write in it fails: callers must be able to
 * take that (job outcomes are: a job whose outcome was not written is released and runs again).
 */
export class WriteBatch {
  readonly #db: Db
  #pending: { write: (tx: Db) => Promise<unknown>; resolve: () => void; reject: (err: unknown) => void }[] = []
  #scheduled = false

  constructor(db: Db) {
    this.#db = db
  }

  /** Runs `write` inside the next batch's transaction; resolves once that has committed. */
  add(write: (tx: Db) => Promise<unknown>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ write, resolve, reject })
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
      await this.#db.transaction().execute(async (tx) => {
        for (const { write } of batch) await write(tx)
      })
    } catch (err) {
      for (const { reject } of batch) reject(err)
      return
    }
    for (const { resolve } of batch) resolve()
  }
}
