import os from 'node:os'
import { type Job as BullJob, DelayedError, UnrecoverableError, Worker } from 'bullmq'
import type { FastifyBaseLogger } from 'fastify'
import type { WatchErrors } from '../error-events.ts'
import { JobErrorCode } from '../errors.ts'
import { describeFailure, drain, nextAttempt, type RunningAttempt, runHandler } from './attempt.ts'
import { retryDelay } from './backoff.ts'
import { type BullData, type BullProgress, fromBull } from './bullmq-store.ts'
import type { AttemptOutcome, Job, JobContext, JobRunner, Lane } from './types.ts'

export interface BullRunnerOptions {
  redisUrl: string
  prefix: string
  lanes: Lane[]
  maxAttempts: number
  retryBaseMs: number
  retryMaxMs: number
  /** A job whose worker stops renewing its lock (it died) goes to another worker after this long. */
  stalledAfterMs: number
  log: FastifyBaseLogger
  /** Listens for 'error' on each BullMQ worker (its ioredis connections report there). */
  watchErrors: WatchErrors
  onSettled?: (job: Job, outcome: AttemptOutcome, ms: number) => void
}

/** A retryable failure carries its own delay, so the backoff BullMQ applies is the one clients were shown. */
class RetryLater extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message)
  }
}

/**
 * Runs jobs from BullMQ: one Worker per job kind, each lane's concurrency per kind. Same handlers, same
 * outcomes as the dispatcher: retryable failures back off with the same jittered delays up to maxAttempts,
 * others fail at once; a job cut off by shutdown goes back to the queue without spending an attempt; a job
 * whose process died is taken over by another worker once its lock lapses (BullMQ's stalled-job check).
 */
export class BullRunner implements JobRunner {
  readonly #opts: BullRunnerOptions
  readonly #workers: Worker[] = []
  readonly #running = new Set<RunningAttempt>()
  #started = false
  #stopping = false
  #stoppingSince = 0
  /** Names this process in BullMQ (`processedBy`), so an operator can tell which worker ran what. */
  readonly name = `${os.hostname()}:${process.pid}`

  constructor(options: BullRunnerOptions) {
    this.#opts = options
  }

  get running(): boolean {
    return this.#started && !this.#stopping
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const { redisUrl, prefix, stalledAfterMs, maxAttempts, retryBaseMs, retryMaxMs } = this.#opts
    for (const lane of this.#opts.lanes) {
      for (const kind of Object.keys(lane.handlers)) {
        const worker = new Worker(kind, (job, token) => this.#process(lane, job as BullJob<BullData>, token), {
          connection: { url: redisUrl },
          prefix,
          name: this.name,
          concurrency: lane.concurrency,
          lockDuration: stalledAfterMs,
          stalledInterval: stalledAfterMs,
          // A job left by dead workers is taken over as often as it has attempts; beyond that it fails.
          maxStalledCount: maxAttempts,
          settings: {
            backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
              err instanceof RetryLater ? err.delayMs : retryDelay(attemptsMade, retryBaseMs, retryMaxMs),
          },
        })
        this.#opts.watchErrors(worker, 'redis', { kind, client: 'worker' })
        this.#workers.push(worker)
      }
    }
    await Promise.all(this.#workers.map((w) => w.waitUntilReady()))
  }

  wake(): void {}

  async #process(lane: Lane, bullJob: BullJob<BullData>, token: string | undefined): Promise<unknown> {
    const job = fromBull(bullJob, 'running')
    const log = this.#opts.log.child({ jobId: job.id, kind: job.kind, attempt: job.attempts })
    const abort = new AbortController()
    const progress: BullProgress = { stage: null, lastError: job.lastError, runAt: null }
    const ctx: JobContext = {
      signal: abort.signal,
      log,
      setStage: (stage) => {
        progress.stage = stage
        bullJob.updateProgress({ ...progress }).catch((err) => log.warn({ err }, 'stage not recorded'))
      },
    }
    const started = Date.now()
    const run = runHandler(lane, job, ctx)
    const entry: RunningAttempt = { promise: run.catch(() => {}), abort }
    this.#running.add(entry)
    try {
      const result = await run
      const ms = Date.now() - started
      log.info({ ms }, 'job succeeded')
      this.#opts.onSettled?.(job, 'succeeded', ms)
      return result ?? null
    } catch (err) {
      const ms = Date.now() - started
      if (abort.signal.aborted && this.#stopping) {
        // Cut off by shutdown: back in the queue, due now, this attempt not spent on a failure.
        await bullJob.moveToDelayed(Date.now(), token)
        log.warn('job interrupted by shutdown; back in the queue')
        this.#opts.onSettled?.(job, 'interrupted', ms)
        throw new DelayedError()
      }
      const error = describeFailure(err)
      // attemptsMade counts the attempts that already failed; this one is not among them yet.
      const { retry, delayMs: delay } = nextAttempt(err, bullJob.attemptsMade + 1, this.#opts)
      await bullJob
        .updateProgress({ stage: null, lastError: error, runAt: retry ? Date.now() + delay : null })
        .catch((e) => log.warn({ err: e }, 'error not recorded'))
      this.#opts.onSettled?.(job, retry ? 'retry' : 'failed', ms)
      if (retry) {
        log.warn({ error, retryInMs: delay }, 'job attempt failed; will retry')
        throw new RetryLater(error.message, delay)
      }
      log.error({ error, err: error.code === JobErrorCode.INTERNAL ? err : undefined }, 'job failed')
      throw new UnrecoverableError(error.message)
    } finally {
      this.#running.delete(entry)
    }
  }

  stopClaiming(): void {
    if (!this.#started || this.#stopping) return
    this.#stopping = true
    this.#stoppingSince = Date.now()
    for (const worker of this.#workers) {
      worker.pause(true).catch((err) => this.#opts.log.warn({ err }, 'could not pause a worker'))
    }
  }

  async stop(graceMs: number): Promise<void> {
    if (!this.#started) return
    this.stopClaiming()
    const remaining = Math.max(0, this.#stoppingSince + graceMs - Date.now())
    // A handler that ignored its signal does not hold the process: its job's lock lapses and another worker
    // takes it over.
    const timedOut = await drain(() => [...this.#running], remaining, this.#opts.log)
    await Promise.all(this.#workers.map((w) => w.close(timedOut)))
  }
}
