import { type CompiledQuery, Kysely, PostgresDialect, type PostgresPoolClient } from 'kysely'
import type pg from 'pg'
import type { Schema } from './schema.ts'
import type { Work } from './transaction.ts'

/**
 * PostgreSQL transactions in as few round trips as their work allows, on a pool of pipelined connections (pg's
 * `pipeline: true`: a statement is sent without waiting for the answer to the one before). BEGIN waits for the
 * transaction's first statement, Transaction.write()s wait for the next statement or the commit, and whatever
 * waits goes out with it in one write to the socket. A signup (a user and its jobs, written and not read) is
 * BEGIN, two inserts and COMMIT in one round trip instead of four. The answers come back in order; the first
 * failure is the transaction's error, as it would have been one statement at a time.
 */
export function pipelinedTransactions(pool: pg.Pool) {
  const bound = new WeakMap<pg.PoolClient, Bound>()
  return async <T>(work: Work<T>): Promise<T> => {
    const client = await pool.connect()
    let connection = bound.get(client)
    if (!connection) {
      connection = bind()
      bound.set(client, connection)
    }
    const trip = new Trip(client)
    connection.trip = trip
    const hooks: (() => void)[] = []
    let result: T
    try {
      result = await work({ db: connection.db, afterCommit: (hook) => hooks.push(hook), write: (q) => trip.queue(q) })
      await trip.commit()
    } catch (err) {
      const clean = await trip.rollback()
      connection.trip = undefined
      // A connection whose state is unknown (a statement that timed out, a lost socket) is not given out again.
      client.release(clean ? undefined : (err as Error))
      throw await trip.firstFailure(err)
    }
    connection.trip = undefined
    client.release()
    for (const hook of hooks) hook()
    return result
  }
}

interface Bound {
  /** Queries of the work through Kysely, on this connection, inside its current trip. */
  db: Kysely<Schema>
  trip: Trip | undefined
}

/** A Kysely instance for one pooled connection, whose every query goes through the connection's open transaction. */
function bind(): Bound {
  const bound: Bound = { db: undefined as never, trip: undefined }
  const through: PostgresPoolClient = {
    query: ((text: string, values: unknown[]) => {
      if (!bound.trip) throw new Error('a query outside its transaction')
      return bound.trip.send(text, values)
    }) as unknown as PostgresPoolClient['query'],
    // The pooled connection is released by the transaction, not by Kysely after each query.
    release() {},
  }
  bound.db = new Kysely<Schema>({
    dialect: new PostgresDialect({ pool: { connect: async () => through, end: async () => {} } }),
  })
  return bound
}

/** One transaction on one pipelined connection: what waits to be sent, and every answer still to come. */
class Trip {
  readonly #client: pg.PoolClient
  #begun = false
  #waiting: CompiledQuery[] = []
  readonly #sent: Promise<pg.QueryResult>[] = []

  constructor(client: pg.PoolClient) {
    this.#client = client
  }

  queue(query: CompiledQuery): void {
    this.#waiting.push(query)
  }

  /** Sends BEGIN (first time), the writes waiting, then `text`, in one write to the socket; answers `text`. */
  send(text: string, values?: readonly unknown[]): Promise<pg.QueryResult> {
    // pg corks the socket around each statement's messages too; corks nest, so all of these leave together.
    const socket = (this.#client as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream
    socket.cork()
    try {
      if (!this.#begun) {
        this.#begun = true
        this.#post('BEGIN')
      }
      for (const query of this.#waiting) this.#post(query.sql, query.parameters)
      this.#waiting = []
      return this.#post(text, values)
    } finally {
      socket.uncork()
    }
  }

  #post(text: string, values?: readonly unknown[]): Promise<pg.QueryResult> {
    const answer = this.#client.query(text, values as unknown[] | undefined)
    // Every answer is read by firstFailure() or by whoever asked; this keeps the others from being unhandled.
    answer.catch(() => {})
    this.#sent.push(answer)
    return answer
  }

  async commit(): Promise<void> {
    if (!this.#begun && this.#waiting.length === 0) return
    const { command } = await this.send('COMMIT')
    // PostgreSQL ends a transaction that a failed statement aborted with ROLLBACK, even when asked to commit.
    if (command === 'ROLLBACK') throw new Error('the transaction was rolled back: one of its statements failed')
  }

  /** Ends a transaction that failed; whether the connection is known to be clean afterwards. */
  async rollback(): Promise<boolean> {
    this.#waiting = []
    if (!this.#begun) return true
    return this.#post('ROLLBACK').then(
      () => true,
      () => false,
    )
  }

  /** The transaction's first statement that failed, in the order they were sent, or `fallback`. */
  async firstFailure(fallback: unknown): Promise<unknown> {
    for (const answer of this.#sent) {
      const failure = await answer.then(
        () => undefined,
        (err: unknown) => err,
      )
      if (failure !== undefined) return failure
    }
    return fallback
  }
}
