import { type Database, isUniqueViolation, type Transaction } from '../db/database.ts'
import { IdempotencyKeyInFlightError, IdempotencyKeyReusedError } from '../errors.ts'
import { hashKey } from './key.ts'
import type { IdempotencyRecords, StoredAnswer } from './records.ts'

/** A request with an Idempotency-Key, its key claimed in this process until `release()`. */
export interface KeyedCall {
  scope: string
  key: string
  keyHash: string
  release(): void
}

/** Writes a request's answer inside the transaction of what it created. */
export type RecordAnswer = (tx: Transaction, answer: StoredAnswer) => Promise<void>

export interface GuardedSteps<R> {
  /** The first answer again, from what was kept of it. */
  replay(answer: StoredAnswer): R
  /** Does the work; calls `record` inside the work's own transaction, or the retry does it all again. */
  perform(record: RecordAnswer): Promise<R>
}

/**
 * Requests made safe to retry by an Idempotency-Key: the first one's answer is kept, written in the same
 * transaction as what it created, and a retry of the same request gets it again instead of a second run.
 * Two requests with one key meet in two places: in this process, the second is refused while the first runs
 * (409); across processes sharing PostgreSQL, the key's row decides, and the one that commits second is rolled
 * back whole and answered with the first one's answer.
 */
export class IdempotencyGuard {
  readonly #records: IdempotencyRecords
  readonly #database: Database
  readonly #ttlMs: number
  readonly #clock: () => number
  readonly #inFlight = new Set<string>()

  constructor(records: IdempotencyRecords, database: Database, ttlMs: number, clock: () => number = Date.now) {
    this.#records = records
    this.#database = database
    this.#ttlMs = ttlMs
    this.#clock = clock
  }

  /** Claims `key` in `scope` for this process; a request with it already under way here: 409. */
  begin(scope: string, key: string): KeyedCall {
    const keyHash = hashKey(key)
    const claim = `${scope}\n${keyHash}`
    if (this.#inFlight.has(claim)) throw new IdempotencyKeyInFlightError()
    this.#inFlight.add(claim)
    return { scope, key, keyHash, release: () => this.#inFlight.delete(claim) }
  }

  /** The kept answer when `fingerprint` was answered before under this key, else the work, recorded. */
  async run<R>(
    call: KeyedCall,
    fingerprint: string,
    steps: GuardedSteps<R>,
  ): Promise<{ result: R; replayed: boolean }> {
    const earlier = await this.#earlier(call, fingerprint)
    if (earlier) return { result: steps.replay(earlier), replayed: true }
    const now = this.#clock()
    try {
      const result = await steps.perform((tx, answer) =>
        this.#records.save(tx.db, call.scope, call.keyHash, { ...answer, fingerprint }, now, now - this.#ttlMs),
      )
      return { result, replayed: false }
    } catch (err) {
      if (!isUniqueViolation(err)) throw err
      // Another process committed a request with this key while this one ran (its row, or a row it made, was in
      // the way): this one's work is rolled back, and its answer is the other's. A violation with no such row
      // is the work's own (an address taken): its caller's to answer.
      const winner = await this.#earlier(call, fingerprint)
      if (!winner) throw err
      return { result: steps.replay(winner), replayed: true }
    }
  }

  async #earlier(call: KeyedCall, fingerprint: string): Promise<StoredAnswer | undefined> {
    const found = await this.#records.find(call.scope, call.keyHash, this.#clock() - this.#ttlMs)
    if (!found) return undefined
    if (found.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError()
    // Committed is not yet safe on disk (SQLite fsyncs the WAL after its commit): an answer is never given for
    // what a power cut could still take back.
    await this.#database.durable()
    return { status: found.status, body: found.body, tokenSalt: found.tokenSalt }
  }
}
