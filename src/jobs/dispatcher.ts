import type { Logger } from 'pino'
import { type AttemptRecorder, RunnerCore } from './runner-core.ts'
import type { AttemptOutcome, Job, JobRunner, Journal, Lane } from './types.ts'

export interface DispatcherOptions {
  queue: Journal
  lanes: Lane[]
  maxAttempts: number
  retryBaseMs: number
  retryMaxMs: number
  pollIntervalMs: number
  log: Logger
  clock?: () => number
  /** Told of every finished attempt, for metrics. */
  onSettled?: (job: Job, outcome: AttemptOutcome, ms: number) => void
}

/**
 * Claims due jobs from the journal and runs them through the runner core, each lane up to its concurrency; the
 * rest wait on disk. Delivery is at-least-once: a job cut off by a crash runs again.
 */
export class Dispatcher implements JobRunner {
  readonly #opts: Required<Omit<DispatcherOptions, 'onSettled'>>
  readonly #core: RunnerCore
  #timer: NodeJS.Timeout | undefined
  #scheduled = false
  /** A look at the journal is under way; a wake() meanwhile asks for another right after it. */
  #ticking = false
  #again = false
  /** Jobs whose outcome could not be written (a full disk): released back to queued when writes work again. */
  readonly #unrecorded = new Set<string>()

  constructor(options: DispatcherOptions) {
    this.#opts = { clock: Date.now, ...options }
    this.#core = new RunnerCore({ ...options, clock: this.#opts.clock })
    // The journal says when it queued jobs, so nobody who enqueues need remember to wake the dispatcher.
    options.queue.onEnqueued(() => this.wake())
  }

  get running(): boolean {
    return this.#core.running
  }

  /** Requeues what a crash left running, then starts claiming. */
  async start(): Promise<void> {
    if (!this.#core.start()) return
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
      const kinds = Object.keys(lane.handlers)
      const free = lane.concurrency - this.#core.busy(lane)
      if (free > 0) {
        for (const job of await this.#opts.queue.claim(kinds, free, now)) this.#run(lane, job)
      }
      if (this.#core.busy(lane) < lane.concurrency) {
        const due = await this.#opts.queue.nextDueAt(kinds)
        if (due !== undefined) nextAt = Math.min(nextAt, due)
      }
    }
    return nextAt
  }

  #run(lane: Lane, job: Job): void {
    const { queue, clock } = this.#opts
    const record: AttemptRecorder = {
      succeed: (result) => queue.succeed(job.id, result, clock()),
      retry: (error, runAt) => queue.retry(job.id, error, runAt),
      fail: (error) => queue.fail(job.id, error, clock()),
      release: () => queue.release(job.id),
      setStage: (stage) => queue.setStage(job.id, stage),
    }
    this.#core
      .attempt(lane, job, record)
      .catch((err) => {
        // At-least-once: the job runs again once its release can be written.
        this.#opts.log.error(
          { err, jobId: job.id },
          'could not record the job outcome; it will be released and run again',
        )
        this.#unrecorded.add(job.id)
      })
      .finally(() => this.wake())
  }

  /** Claims no more jobs; those running carry on. The grace period of `stop()` counts from here. */
  stopClaiming(): void {
    if (this.#core.stopClaiming()) clearTimeout(this.#timer)
  }

  /**
   * Stops claiming, lets running jobs finish within `graceMs` of the first stop request, then aborts the rest
   * and leaves them queued for the next start.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopClaiming()
    if (!(await this.#core.drain(graceMs))) return
    // A handler that ignored its signal must not hold the process: release its job ourselves.
    for (const job of this.#core.runningJobs()) await this.#opts.queue.release(job.id)
  }
}
