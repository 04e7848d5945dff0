import type { Socket } from 'node:net'
import { type CompiledQuery, Kysely, PostgresDialect, type PostgresPoolClient } from 'kysely'
import type pg from 'pg'
import { TurnBatch } from '../turn-batch.ts'
import type { Schema } from './schema.ts'
import type { Work } from './transaction.ts'

/**
 * PostgreSQL transactions in as few round trips as their work allows, on a pool of pipelined connections (pg's
 * `pipeline: true`: a statement is sent without waiting for the answer to the one before).
 * - A transaction that reads takes a connection at its first statement. BEGIN goes with that statement, and
 *   Transaction.write()s go with the next statement or the COMMIT, in one write to the socket each time.
 * - A transaction of writes alone (a signup: a user and its jobs, nothing read back) needs no connection while its
 *   work runs. The write-only transactions of one turn of the event loop are committed together: BEGIN, all their
 *   writes, COMMIT, in one round trip and one commit. If one of their statements fails (an address already taken),
 *   the commit did not happen, and each is sent again alone, so only the one at fault fails, with its own error.
 * Answers come back in order; a transaction's first failure is its error, as one statement at a time would give.
 */
export function pipelinedTransactions(pool: pg.Pool) {
  const free: Slot[] = []
  const together = new TurnBatch<WritesOnly>((group) => void commitTogether(pool, group))
  return async <T>(work: Work<T>): Promise<T> => {
    const slot = free.pop() ?? new Slot()
    const trip = new Trip(pool)
    slot.trip = trip
    const hooks: (() => void)[] = []
    let result: T
    try {
      result = await work({ db: slot.db, afterCommit: (hook) => hooks.push(hook), write: (q) => trip.queue(q) })
      if (trip.connected) await trip.commit()
      else {
        const writes = trip.takeWaiting()
        if (writes.length > 0) await new Promise<void>((resolve, reject) => together.add({ writes, resolve, reject }))
      }
    } catch (err) {
      throw await trip.fail(err)
    } finally {
      slot.trip = undefined
      free.push(slot)
    }
    for (const hook of hooks) hook()
    return result
  }
}

/** A Kysely instance whose every query goes through the transaction its slot holds now; reused, never rebuilt. */
class Slot {
  trip: Trip | undefined
  readonly db: Kysely<Schema>

  constructor() {
    const through: PostgresPoolClient = {
      query: ((text: string, values: unknown[]) => {
        if (!this.trip) throw new Error('a query outside its transaction')
        return this.trip.send(text, values)
      }) as unknown as PostgresPoolClient['query'],
      // The connection is the transaction's to release, not Kysely's after each query.
      release() {},
    }
    this.db = new Kysely<Schema>({
      dialect: new PostgresDialect({ pool: { connect: async () => through, end: async () => {} } }),
    })
  }
}

/** Sends `queries` on `client` in one write to the socket (pg corks around each statement too: corks nest). */
function sendTogether(client: pg.PoolClient, queries: { sql: string; parameters?: readonly unknown[] }[]) {
  const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream
  socket.cork()
  try {
    return queries.map(({ sql, parameters }) => {
      const answer = client.query(sql, parameters as unknown[] | undefined)
      // Every answer is read, by whoever asked or when the transaction settles; this keeps it from being unhandled.
      answer.catch(() => {})
      return answer
    })
  } finally {
    socket.uncork()
  }
}

const BEGIN = { sql: 'BEGIN' }
const COMMIT = { sql: 'COMMIT' }

/** The first of `answers`, in order, that failed. */
async function firstFailure(answers: Promise<unknown>[]): Promise<unknown> {
  for (const answer of answers) {
    const failure = await answer.then(
      () => undefined,
      (err: unknown) => err ?? new Error('failed'),
    )
    if (failure !== undefined) return failure
  }
  return undefined
}

/** One transaction that reads: its connection (taken at its first statement), what waits to be sent, what was. */
class Trip {
  readonly #pool: pg.Pool
  #connecting: Promise<pg.PoolClient> | undefined
  #begun = false
  #waiting: CompiledQuery[] = []
  readonly #sent: Promise<pg.QueryResult>[] = []

  constructor(pool: pg.Pool) {
    this.#pool = pool
  }

  get connected(): boolean {
    return this.#connecting !== undefined
  }

  queue(query: CompiledQuery): void {
    this.#waiting.push(query)
  }

  takeWaiting(): CompiledQuery[] {
    const waiting = this.#waiting
    this.#waiting = []
    return waiting
  }

  /** Sends BEGIN (first time), the writes waiting, then `sql`; answers `sql`. */
  async send(sql: string, parameters?: readonly unknown[]): Promise<pg.QueryResult> {
    this.#connecting ??= this.#pool.connect()
    const client = await this.#connecting
    const queries = [...(this.#begun ? [] : [BEGIN]), ...this.takeWaiting(), { sql, parameters }]
    this.#begun = true
    const answers = sendTogether(client, queries)
    this.#sent.push(...answers)
    return answers[answers.length - 1] as Promise<pg.QueryResult>
  }

  async commit(): Promise<void> {
    const { command } = await this.send(COMMIT.sql)
    // PostgreSQL ends a transaction that a failed statement aborted with ROLLBACK, even when asked to commit.
    if (command === 'ROLLBACK') throw new Error('the transaction was rolled back: one of its statements failed')
    ;(await this.#connecting)?.release()
  }

  /** Ends a transaction that failed and lets its connection go; answers the error to report (its first failure). */
  async fail(err: unknown): Promise<unknown> {
    this.#waiting = []
    const client = await this.#connecting?.catch(() => undefined)
    if (!client) return err
    const failure = (await firstFailure(this.#sent)) ?? err
    const [rollback] = sendTogether(client, [{ sql: 'ROLLBACK' }])
    const clean = await (rollback as Promise<unknown>).then(
      () => true,
      () => false,
    )
    // A connection whose state is unknown (a statement that timed out, a lost socket) is not given out again.
    client.release(clean ? undefined : (failure as Error))
    return failure
  }
}

interface WritesOnly {
  writes: CompiledQuery[]
  resolve: () => void
  reject: (err: unknown) => void
}

/**
 * BEGIN, the writes of `group`, COMMIT, on one connection in one round trip. Resolves 'committed', or the first
 * failure, with whether PostgreSQL answered the COMMIT (then the transaction surely did not commit).
 */
async function runWrites(
  pool: pg.Pool,
  group: WritesOnly[],
): Promise<{ committed: true } | { committed: false; failure: unknown; certain: boolean }> {
  let client: pg.PoolClient
  try {
    client = await pool.connect()
  } catch (err) {
    return { committed: false, failure: err, certain: true }
  }
  const answers = sendTogether(client, [BEGIN, ...group.flatMap((m) => m.writes), COMMIT])
  const commit = await (answers[answers.length - 1] as Promise<pg.QueryResult>).then(
    (answer) => answer.command,
    () => undefined,
  )
  if (commit === 'COMMIT') {
    client.release()
    return { committed: true }
  }
  const failure = (await firstFailure(answers)) ?? new Error('the transaction was rolled back')
  // Without an answer to the COMMIT, the connection is in an unknown state, and so is the commit.
  client.release(commit ? undefined : (failure as Error))
  return { committed: false, failure, certain: commit !== undefined }
}

async function commitTogether(pool: pg.Pool, group: WritesOnly[]): Promise<void> {
  const outcome = await runWrites(pool, group)
  if (outcome.committed) {
    for (const member of group) member.resolve()
    return
  }
  // Alone, or the outcome unknown (a lost connection): the group's error is each one's, as it would have been.
  if (group.length === 1 || !outcome.certain) {
    for (const member of group) member.reject(outcome.failure)
    return
  }
  // Nothing was committed: each again on its own, so that one's failure is not its neighbours'.
  await Promise.all(group.map((member) => commitTogether(pool, [member])))
}
