import type { Kysely } from 'kysely'
import { TurnBatch } from '../turn-batch.ts'
import type { Schema } from './schema.ts'

type Db = Kysely<Schema>

/**
 * PostgreSQL's bookkeeping writes (SQLite groups them with its GroupCommit): writes that arrive in the same turn
 * of the event loop, committed together in one transaction: one commit (one fsync in PostgreSQL) for all of them
 * instead of one each. Each caller's promise settles with the commit. If the transaction fails, every write in it fails: callers must be able to
 * take that (job outcomes are: a job whose outcome was not written is released and runs again).
 */
interface Pending {
  write: (tx: Db) => Promise<unknown>
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

export class WriteBatch {
  readonly #db: Db
  readonly #turn = new TurnBatch<Pending>((batch) => void this.#commit(batch))

  constructor(db: Db) {
    this.#db = db
  }

  /** Runs `write` inside the next batch's transaction; resolves with its result once that has committed. */
  add<T>(write: (tx: Db) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#turn.add({ write, resolve: resolve as (value: unknown) => void, reject })
    })
  }

  async #commit(batch: Pending[]): Promise<void> {
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
