import type { Logger } from 'pino'
import { JobErrorCode } from '../errors.ts'
import {
  cancellationOf,
  describeFailure,
  drain,
  JobCancelled,
  nextAttempt,
  type RetryPolicy,
  type RunningAttempt,
  runHandler,
} from './attempt.ts'
import type { AttemptOutcome, Job, JobContext, JobErrorInfo, JobRunner, Lane } from './types.ts'

/** What one attempt came to, decided by the runner core, written down by the backend. */
export type Outcome =
  | { type: 'succeeded'; result: unknown }
  | { type: 'retry'; error: JobErrorInfo; delayMs: number }
  | { type: 'failed'; error: JobErrorInfo }
  /** Cut off by shutdown: back in the queue, the attempt not spent. */
  | { type: 'interrupted' }
  /** Not attempted: its owner had its share of the lane running. Back in the queue, no attempt spent. */
  | { type: 'deferred' }
  /** Called off (cancel()) before or while it ran: it ends here, `error` saying why. */
  | { type: 'cancelled'; error: JobErrorInfo }

/** What an attempt that ran came to. */
type Attempted = Exclude<Outcome, { type: 'deferred' }>

/** How a backend writes an attempt's outcome and progress: a journal row, or a BullMQ job. */
export interface AttemptRecorder {
  /** `now`: when the job finished, as whoever heard of it first (onFinished) was told. */
  succeed(result: unknown, now: number): Promise<void>
  retry(error: JobErrorInfo, runAt: number): Promise<void>
  fail(error: JobErrorInfo, now: number): Promise<void>
  cancel(error: JobErrorInfo, now: number): Promise<void>
  release(): Promise<void>
  /** Back in the queue without an attempt: its owner had its share of the lane running (Lane.perOwner). */
  defer(): Promise<void>
  /**
   * The attempt begins, its owner's share having room: for a backend that shows a job as running from the moment
   * it is taken, before the share is checked (BullMQ).
   */
  started?(): Promise<void>
  setStage(stage: string): Promise<void>
}

export interface RunnerCoreOptions extends RetryPolicy {
  log: Logger
  clock?: () => number
  /** Told of every finished attempt once its outcome is recorded, for metrics. */
  onSettled?: (job: Job, outcome: AttemptOutcome, ms: number) => void
  /**
   * Told of a job reaching its final state (succeeded, or failed for good), with the job as it will be stored,
   * before that is written: what it queues in consequence (a webhook delivery) is queued at least once, since a
   * crash before the write runs the job again. A rejection leaves the outcome unwritten (the backend runs the job
   * again).
   */
  onFinished?: (job: Job) => Promise<void>
}

/** What every runner is configured with: its lanes, and how the core runs their jobs. */
export interface RunnerOptions extends RunnerCoreOptions {
  lanes: Lane[]
}

interface Attempt extends RunningAttempt {
  job: Job
}

/**
 * How long a cancel heard for a job this runner is not running (yet) is kept: a claim or a take in flight when the
 * cancel came starts its attempt within moments, and the attempt then stops at once.
 */
const EARLY_CANCEL_MS = 60_000

/**
 * The rules of an attempt, written once for every backend (as BullMQ's own Worker runs over its Redis and
 * PostgreSQL adapters): run the lane's handler, decide the outcome (succeeded, retry with backoff, failed,
 * interrupted by shutdown), have the backend record it, log it, count it. And one lifecycle: started, stopping
 * (no new claims; the grace period counts from here), drained. Backends only claim jobs and record outcomes.
 */
export class RunnerCore {
  readonly #opts: Required<RunnerCoreOptions>
  readonly #running = new Map<string, Set<Attempt>>()
  /** Per lane, each owner's attempts under way (owners with none are left out). */
  readonly #owners = new Map<string, Map<string, number>>()
  /** Cancels heard for jobs whose attempt had not begun here: id → why, and when heard. */
  readonly #early = new Map<string, { error: JobErrorInfo; at: number }>()
  #started = false
  #stopping = false
  #stoppingSince = 0

  constructor(options: RunnerCoreOptions) {
    this.#opts = { clock: Date.now, onSettled: () => {}, onFinished: async () => {}, ...options }
  }

  /** True between start() and the first stop request. */
  get running(): boolean {
    return this.#started && !this.#stopping
  }

  /** Marks the runner started; false if it already was. */
  start(): boolean {
    if (this.#started) return false
    this.#started = true
    return true
  }

  /** Attempts of this lane under way. */
  busy(lane: Lane): number {
    return this.#running.get(lane.name)?.size ?? 0
  }

  /** Per owner, attempts of this lane under way; owners with none are absent. */
  owners(lane: Lane): ReadonlyMap<string, number> {
    return this.#owners.get(lane.name) ?? new Map()
  }

  /**
   * Stops the attempt of job `id` if one is under way here (its signal aborts with a JobCancelled; the outcome is
   * 'cancelled' unless the handler finished first); otherwise remembers it for a while, in case its attempt is
   * about to begin. Returns whether an attempt was under way.
   */
  cancel(id: string, error: JobErrorInfo): boolean {
    for (const set of this.#running.values()) {
      for (const attempt of set) {
        if (attempt.job.id !== id) continue
        if (!attempt.abort.signal.aborted) attempt.abort.abort(new JobCancelled(error))
        return true
      }
    }
    const now = this.#opts.clock()
    for (const [early, { at }] of this.#early) if (now - at > EARLY_CANCEL_MS) this.#early.delete(early)
    this.#early.set(id, { error, at: now })
    return false
  }

  /** Jobs whose attempt is under way. */
  runningJobs(): Job[] {
    return [...this.#running.values()].flatMap((set) => [...set].map((a) => a.job))
  }

  /**
   * Runs one attempt of `job` and has `record` write its outcome; resolves with the outcome once it is written,
   * rejects if it could not be (the backend decides what happens to the job then). `attempt` is the number the
   * retry rules count with, the job's own count unless the backend knows better. A job whose owner has its share
   * of the lane (Lane.perOwner) running is not attempted but deferred: back in the queue, no attempt spent.
   */
  async attempt(lane: Lane, job: Job, record: AttemptRecorder, attempt = job.attempts): Promise<Outcome> {
    const owners = this.#owners.get(lane.name) ?? new Map<string, number>()
    this.#owners.set(lane.name, owners)
    const mine = owners.get(job.ownerId) ?? 0
    if (lane.perOwner !== undefined && mine >= lane.perOwner) {
      await record.defer()
      this.#opts.log.debug({ jobId: job.id, kind: job.kind }, 'job deferred: its owner has its share running')
      return { type: 'deferred' }
    }
    // Counted before the first await, so a check of another job of the owner in the same turn sees this one.
    owners.set(job.ownerId, mine + 1)
    const log = this.#opts.log.child({ jobId: job.id, kind: job.kind, attempt: job.attempts })
    const abort = new AbortController()
    const early = this.#early.get(job.id)
    if (early) {
      this.#early.delete(job.id)
      abort.abort(new JobCancelled(early.error))
    }
    const ctx: JobContext = {
      signal: abort.signal,
      log,
      // Progress is for display: a stage that could not be written is not worth failing the job over.
      setStage: (stage) => void record.setStage(stage).catch((err) => log.warn({ err }, 'stage not recorded')),
    }
    const started = this.#opts.clock()
    const lanes = this.#running.get(lane.name) ?? new Set<Attempt>()
    this.#running.set(lane.name, lanes)
    const settle = async (): Promise<Outcome> => {
      // For display, like a stage: not worth failing the job over.
      await record.started?.().catch((err) => log.warn({ err }, 'start not recorded'))
      log.debug('job started')
      let outcome: Attempted
      let thrown: unknown
      const cancelledBefore = cancellationOf(abort.signal)
      try {
        // Called off before it began: the handler is not run at all.
        if (cancelledBefore) throw abort.signal.reason
        outcome = { type: 'succeeded', result: await runHandler(lane, job, ctx) }
      } catch (err) {
        thrown = err
        outcome = this.#decide(err, attempt, abort.signal)
      }
      const now = this.#opts.clock()
      if (outcome.type === 'succeeded' || outcome.type === 'failed') {
        await this.#opts.onFinished(finishedJob(job, outcome, now))
      }
      await this.#record(outcome, record, now)
      const ms = this.#opts.clock() - started
      this.#log(log, outcome, ms, thrown)
      this.#opts.onSettled(job, outcome.type, ms)
      return outcome
    }
    const promise = settle()
    const entry: Attempt = { job, abort, promise: promise.catch(() => {}) }
    lanes.add(entry)
    try {
      return await promise
    } finally {
      lanes.delete(entry)
      const left = (owners.get(job.ownerId) ?? 1) - 1
      if (left > 0) owners.set(job.ownerId, left)
      else owners.delete(job.ownerId)
    }
  }

  #decide(err: unknown, attempt: number, signal: AbortSignal): Attempted {
    // Called off: whatever the handler threw on its way out, the job ends cancelled, never retried.
    const cancelled = cancellationOf(signal)
    if (cancelled) return { type: 'cancelled', error: cancelled }
    // Cut off by shutdown, not by its own fault: it runs again after restart, the attempt not counted.
    if (signal.aborted && this.#stopping) return { type: 'interrupted' }
    const error = describeFailure(err)
    const next = nextAttempt(err, attempt, this.#opts)
    return next.retry ? { type: 'retry', error, delayMs: next.delayMs } : { type: 'failed', error }
  }

  #record(outcome: Outcome, record: AttemptRecorder, now: number): Promise<void> {
    switch (outcome.type) {
      case 'succeeded':
        return record.succeed(outcome.result, now)
      case 'retry':
        return record.retry(outcome.error, this.#opts.clock() + outcome.delayMs)
      case 'failed':
        return record.fail(outcome.error, now)
      case 'interrupted':
        return record.release()
      case 'deferred':
        return record.defer()
      case 'cancelled':
        return record.cancel(outcome.error, now)
    }
  }

  #log(log: Logger, outcome: Outcome, ms: number, err: unknown): void {
    switch (outcome.type) {
      case 'succeeded':
        log.info({ ms }, 'job succeeded')
        return
      case 'retry':
        log.warn({ error: outcome.error, retryInMs: outcome.delayMs }, 'job attempt failed; will retry')
        return
      case 'failed':
        // The stack only where the failure was unforeseen; a known code says enough.
        log.error(
          { error: outcome.error, err: outcome.error.code === JobErrorCode.INTERNAL ? err : undefined },
          'job failed',
        )
        return
      case 'interrupted':
        log.warn('job interrupted by shutdown; back in the queue')
        return
      case 'deferred':
        return
      case 'cancelled':
        log.info({ code: outcome.error.code, ms }, 'job cancelled')
        return
    }
  }

  /** No new attempts from here; true the first time. The grace period of `drain()` counts from this call. */
  stopClaiming(): boolean {
    if (!this.#started || this.#stopping) return false
    this.#stopping = true
    this.#stoppingSince = this.#opts.clock()
    return true
  }

  /**
   * Lets running attempts finish within `graceMs` of the first stop request, then aborts the rest (they are
   * recorded as interrupted). Returns whether any had to be aborted.
   */
  async drain(graceMs: number): Promise<boolean> {
    if (!this.#started) return false
    this.stopClaiming()
    const remaining = Math.max(0, this.#stoppingSince + graceMs - this.#opts.clock())
    const all = () => [...this.#running.values()].flatMap((set) => [...set])
    return drain(all, remaining, this.#opts.log)
  }
}

/** The job as its final outcome leaves it. */
function finishedJob(job: Job, outcome: Outcome & { type: 'succeeded' | 'failed' }, now: number): Job {
  const succeeded = outcome.type === 'succeeded'
  return {
    ...job,
    status: outcome.type,
    stage: null,
    result: succeeded ? (outcome.result ?? null) : null,
    lastError: succeeded ? null : outcome.error,
    finishedAt: now,
  }
}

/**
 * The one start/stop lifecycle of every runner: started once; asked to stop, it takes no new jobs and the grace
 * period counts from then; running attempts get what is left of it, then are aborted and recorded as
 * interrupted. A backend says only how it begins taking jobs, stops taking them, and ends.
 */
export abstract class CoreRunner implements JobRunner {
  protected readonly core: RunnerCore

  constructor(core: RunnerCore) {
    this.core = core
  }

  get running(): boolean {
    return this.core.running
  }

  async start(): Promise<void> {
    if (this.core.start()) await this.begin()
  }

  stopClaiming(): void {
    if (this.core.stopClaiming()) this.stopTaking()
  }

  async stop(graceMs: number): Promise<void> {
    this.stopClaiming()
    await this.end(await this.core.drain(graceMs))
  }

  /** Starts taking jobs; called once. */
  protected abstract begin(): Promise<void>
  /** Takes no more jobs; those running carry on. Called once, at the first stop request. */
  protected abstract stopTaking(): void
  /** After the drain; `aborted` says whether running attempts had to be cut off. */
  protected abstract end(aborted: boolean): Promise<void>
}
