import type { FastifyBaseLogger } from 'fastify'
import { JobErrorCode } from '../errors.ts'
import { describeFailure, drain, nextAttempt, type RunningAttempt, runHandler } from './attempt.ts'
import type { AttemptOutcome, Job, JobContext, JobRunner, Journal, Lane } from './types.ts'

export interface DispatcherOptions {
  queue: Journal
  lanes: Lane[]
  maxAttempts: number
  retryBaseMs: number
  retryMaxMs: number
  pollIntervalMs: number
  log: FastifyBaseLogger
  clock?: () => number
  /** Told of every finished attempt, for metrics. */
  onSettled?: (job: Job, outcome: AttemptOutcome, ms: number) => void
}

/**
 * Claims due jobs from the journal and runs them, each lane up to its concurrency; the rest wait on disk.
 * Failures retry with backoff up to maxAttempts. Delivery is at-least-once: a job cut off by a crash runs again.
 */
export class Dispatcher implements JobRunner {
  readonly #opts: Required<DispatcherOptions>
  readonly #running = new Map<string, Map<string, RunningAttempt>>()
  #timer: NodeJS.Timeout | undefined
  #scheduled = false
  /** A look at the journal is under way; a wake() meanwhile asks for another right after it. */
  #ticking = false
  #again = false
  /** Jobs whose outcome could not be written (a full disk): released back to queued when writes work again. */
  readonly #unrecorded = new Set<string>()
  #started = false
  #stopping = false
  #stoppingSince = 0

  constructor(options: DispatcherOptions) {
    this.#opts = { clock: Date.now, onSettled: () => {}, ...options }
    for (const lane of options.lanes) this.#running.set(lane.name, new Map())
  }

  get running(): boolean {
    return this.#started && !this.#stopping
  }

  /** Requeues what a crash left running, then starts claiming. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const requeued = await this.#opts.queue.requeueRunning()
    if (requeued > 0) this.#opts.log.warn({ requeued }, 'requeued jobs left running by an earlier process')
    this.wake()
  }

  /** Asks for a look at the journal soon; cheap to call after every enqueue. */
  wake(): void {
    if (!this.running) return
    if (this.#ticking) {
      this.#again = true
      return
    }
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      void this.#tick()
    })
  }

  async #tick(): Promise<void> {
    if (!this.running) return
    if (this.#ticking) {
      this.#again = true
      return
    }
    this.#ticking = true
    clearTimeout(this.#timer)
    let nextAt = this.#opts.clock() + this.#opts.pollIntervalMs
    try {
      nextAt = await this.#claimAndRun()
    } catch (err) {
      // The journal could not be read or written (a full or failing disk): try again after the poll interval.
      this.#opts.log.error({ err }, 'dispatcher could not reach the journal; retrying')
    } finally {
      this.#ticking = false
    }
    if (!this.running) return
    if (this.#again) {
      this.#again = false
      nextAt = this.#opts.clock()
    }
    this.#timer = setTimeout(() => void this.#tick(), Math.max(0, nextAt - this.#opts.clock()))
    this.#timer.unref()
  }

  /** Claims what each lane has room for and returns when the next look is due. */
  async #claimAndRun(): Promise<number> {
    const now = this.#opts.clock()
    let nextAt = now + this.#opts.pollIntervalMs
    for (const id of this.#unrecorded) {
      await this.#opts.queue.release(id)
      this.#unrecorded.delete(id)
    }
    for (const lane of this.#opts.lanes) {
      const running = this.#running.get(lane.name) as Map<string, RunningAttempt>
      const kinds = Object.keys(lane.handlers)
      const free = lane.concurrency - running.size
      if (free > 0) {
        for (const job of await this.#opts.queue.claim(kinds, free, now)) this.#run(lane, job)
      }
      if (running.size < lane.concurrency) {
        const due = await this.#opts.queue.nextDueAt(kinds)
        if (due !== undefined) nextAt = Math.min(nextAt, due)
      }
    }
    return nextAt
  }

  #run(lane: Lane, job: Job): void {
    const { queue, log: rootLog } = this.#opts
    const log = rootLog.child({ jobId: job.id, kind: job.kind, attempt: job.attempts })
    const abort = new AbortController()
    const running = this.#running.get(lane.name) as Map<string, RunningAttempt>
    const ctx: JobContext = {
      signal: abort.signal,
      log,
      // Progress is for display: a stage that could not be written is not worth failing the job over.
      setStage: (stage) => void queue.setStage(job.id, stage).catch((err) => log.warn({ err }, 'stage not recorded')),
    }
    log.debug('job started')
    const started = this.#opts.clock()
    const promise = runHandler(lane, job, ctx)
      .then(
        async (result) => {
          await queue.succeed(job.id, result, this.#opts.clock())
          const ms = this.#opts.clock() - started
          log.info({ ms }, 'job succeeded')
          this.#opts.onSettled(job, 'succeeded', ms)
        },
        async (err) => {
          const outcome = await this.#settleFailure(job, err, abort.signal, log)
          this.#opts.onSettled(job, outcome, this.#opts.clock() - started)
        },
      )
      .catch((err) => {
        // At-least-once: the job runs again once its release can be written.
        log.error({ err }, 'could not record the job outcome; it will be released and run again')
        this.#unrecorded.add(job.id)
      })
      .finally(() => {
        running.delete(job.id)
        this.wake()
      })
    running.set(job.id, { promise, abort })
  }

  async #settleFailure(job: Job, err: unknown, signal: AbortSignal, log: FastifyBaseLogger): Promise<AttemptOutcome> {
    const { queue } = this.#opts
    if (signal.aborted && this.#stopping) {
      // Cut off by shutdown, not by its own fault: it runs again after restart, the attempt not counted.
      await queue.release(job.id)
      log.warn('job interrupted by shutdown; left queued')
      return 'interrupted'
    }
    const error = describeFailure(err)
    const next = nextAttempt(err, job.attempts, this.#opts)
    if (next.retry) {
      await queue.retry(job.id, error, this.#opts.clock() + next.delayMs)
      log.warn({ error, retryInMs: next.delayMs }, 'job attempt failed; will retry')
      return 'retry'
    }
    await queue.fail(job.id, error, this.#opts.clock())
    log.error({ error, err: error.code === JobErrorCode.INTERNAL ? err : undefined }, 'job failed')
    return 'failed'
  }

  /** Claims no more jobs; those running carry on. The grace period of `stop()` counts from here. */
  stopClaiming(): void {
    if (!this.#started || this.#stopping) return
    this.#stopping = true
    this.#stoppingSince = this.#opts.clock()
    clearTimeout(this.#timer)
  }

  /**
   * Stops claiming, lets running jobs finish within `graceMs` of the first stop request, then aborts the rest
   * and leaves them queued for the next start.
   */
  async stop(graceMs: number): Promise<void> {
    if (!this.#started) return
    this.stopClaiming()
    const remaining = Math.max(0, this.#stoppingSince + graceMs - this.#opts.clock())
    const all = () => [...this.#running.values()].flatMap((m) => [...m.values()])
    if (!(await drain(all, remaining, this.#opts.log))) return
    // A handler that ignored its signal must not hold the process: release its job ourselves.
    for (const lane of this.#running.values()) for (const id of lane.keys()) await this.#opts.queue.release(id)
  }
}
