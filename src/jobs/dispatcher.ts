import { TurnBatch } from '../turn-batch.ts'
import { type AttemptRecorder, CoreRunner, RunnerCore, type RunnerOptions } from './runner-core.ts'
import type { Job, Journal, Lane } from './types.ts'

export interface DispatcherOptions extends RunnerOptions {
  queue: Journal
  pollIntervalMs: number
}

/**
 * Free slots a lane waits for before it claims again: a claim is one write transaction, about as dear for eight
 * jobs as for one, and with a slot freed per finished job, claiming at every one was a claim per job, a cost that
 * showed under a mail flood (src/bench/RESULTS.md). An idle lane claims at once (all its slots are free); a busy
 * one claims once half its slots are free, or BATCH_WAIT_MS after a slot freed if no more do (jobs that hold their
 * slots long would keep the batch from filling). Lanes of up to three slots claim for every free one.
 */
export const claimBatch = (concurrency: number) => Math.max(1, Math.floor(concurrency / 2))

/** Longest free slots wait for a batch to fill before they are claimed for. */
const BATCH_WAIT_MS = 20

interface LaneState {
  shortSince?: number
  /** Its last claim took fewer than it asked for: nothing more was due that it could take. */
  drained: boolean
  /** When it last claimed, and when its next job is due (found then; undefined: none queued for later). */
  lookedAt?: number
  dueAt?: number
}

/**
 * Claims due jobs from the journal and runs them through the runner core, each lane up to its concurrency; the
 * rest wait on disk. Delivery is at-least-once: a job cut off by a crash runs again.
 */
export class Dispatcher extends CoreRunner {
  readonly #opts: Required<Omit<DispatcherOptions, 'onSettled' | 'onFinished'>>
  #timer: NodeJS.Timeout | undefined
  /** The wake-ups of one turn of the event loop make one look at the journal. */
  readonly #wakes = new TurnBatch<true>(() => void this.#tick())
  /** A look at the journal is under way; a wake() meanwhile asks for another right after it. */
  #ticking = false
  #again = false
  /** The look at the journal under way, or the last one: stopping waits for it. */
  #looking: Promise<unknown> = Promise.resolve()
  /** Per lane: since when some slots are free but fewer than a batch, and what its last look found (LaneState). */
  readonly #lanes = new Map<string, LaneState>()
  /** Jobs whose outcome could not be written (a full disk): released back to queued when writes work again. */
  readonly #unrecorded = new Set<string>()

  constructor(options: DispatcherOptions) {
    const opts = { clock: Date.now, ...options }
    super(new RunnerCore({ ...options, clock: opts.clock }))
    this.#opts = opts
    // The journal says when it queued jobs, so nobody who enqueues need remember to wake the dispatcher.
    options.queue.onEnqueued((kinds) => this.wake(kinds))
    options.queue.onCancelRequested((id, error) => this.core.cancel(id, error))
  }

  /** Requeues what a crash left running, then starts claiming. */
  protected async begin(): Promise<void> {
    const requeued = await this.#opts.queue.requeueRunning()
    if (requeued > 0) this.#opts.log.warn({ requeued }, 'requeued jobs left running by an earlier process')
    await this.#sayWhatWaits()
    this.wake()
  }
  /**
   * Jobs of a kind that no lane here runs (a rolling deploy: a newer process queued a kind this one does not know)
   * are never claimed, so they block nothing; they wait for a process that runs them, and are counted in
   * deckhand_jobs. Said once at start, so that an operator sees why they wait.
   */
  async #sayWhatWaits(): Promise<void> {
    const served = new Set(this.#opts.lanes.flatMap((lane) => Object.keys(lane.handlers)))
    const waiting: Record<string, number> = {}
    for (const { kind, status, count } of await this.#opts.queue.depth()) {
      if (!served.has(kind) && status === 'queued') waiting[kind] = count
    }
    if (Object.keys(waiting).length > 0) {
      this.#opts.log.warn({ waiting }, 'jobs of kinds this process does not run wait for a process that does')
    }
  }

  /**
   * Asks for a look at the journal soon; cheap to call after every enqueue. With `kinds`, only the lanes that run
   * them have anything new to claim; the others are looked at when their own jobs end, come due, or at the poll.
   */
  wake(kinds?: readonly string[]): void {
    for (const lane of this.#opts.lanes) {
      if (!kinds || kinds.some((kind) => Object.hasOwn(lane.handlers, kind))) this.#undrain(lane)
    }
    this.#look()
  }

  /** Its lane has something new to look at: a job of its kinds queued, or one of its own ended. */
  #undrain(lane: Lane): void {
    const state = this.#lanes.get(lane.name)
    if (state) state.drained = false
  }

  /** A look at the journal soon: in the next turn, or right after the one under way; none once stopping. */
  #look(): void {
    if (!this.running) return
    if (this.#ticking) {
      this.#again = true
      return
    }
    this.#wakes.add(true)
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
      const look = this.#claimAndRun()
      this.#looking = look.catch(() => {})
      nextAt = await look
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

  /**
   * Claims what each lane has room for and returns when the next look is due. The lanes claim side by side, so
   * that their claims commit together: one after another, a look at the journal waited for one commit a lane, and
   * under a signup flood that wait (a turn of the event loop each) held the mail lane to a few hundred mails a
   * second while the loop sat a third idle (src/bench/RESULTS.md, what was tried).
   */
  async #claimAndRun(): Promise<number> {
    const now = this.#opts.clock()
    for (const id of this.#unrecorded) {
      await this.#opts.queue.release(id)
      this.#unrecorded.delete(id)
    }
    const nextAt = await Promise.all(this.#opts.lanes.map((lane) => this.#claimLane(lane, now)))
    return Math.min(now + this.#opts.pollIntervalMs, ...nextAt)
  }

  /** Claims what `lane` has room for; returns when it next needs a look (Infinity: when woken). */
  async #claimLane(lane: Lane, now: number): Promise<number> {
    const state = this.#lanes.get(lane.name) ?? { drained: false }
    this.#lanes.set(lane.name, state)
    // Drained at its last look, and nothing since that could change it (a job of its kinds queued, one of its own
    // ended, its next job come due, a poll interval past, for what other processes queue): left alone. At every
    // look each idle lane cost a claim and a read of its next due time, a few per cent of a loaded event loop.
    if (state.drained && state.lookedAt !== undefined) {
      const nextAt = Math.min(state.lookedAt + this.#opts.pollIntervalMs, state.dueAt ?? Number.POSITIVE_INFINITY)
      if (now < nextAt) return nextAt
    }
    let nextAt = Number.POSITIVE_INFINITY
    const kinds = Object.keys(lane.handlers)
    const free = lane.concurrency - this.core.busy(lane)
    // Fewer slots free than a batch: claimed anyway once they have waited BATCH_WAIT_MS, since jobs that hold
    // their slots long (a receiver that never answers) may free no more for a while.
    let short = false
    if (free === 0) state.shortSince = undefined
    else if (free < claimBatch(lane.concurrency)) {
      state.shortSince ??= now
      short = now - state.shortSince < BATCH_WAIT_MS
      if (short && !state.drained) nextAt = state.shortSince + BATCH_WAIT_MS
    }
    if (free > 0 && !short) {
      state.shortSince = undefined
      const share =
        lane.perOwner === undefined ? undefined : { perOwner: lane.perOwner, running: this.core.owners(lane) }
      const jobs = await this.#opts.queue.claim(kinds, free, now, share)
      if (!this.running) {
        // Claimed while stopping: the drain did not count these, and would let the journal close under them (their
        // outcomes lost, the work done again after the restart). They go back untouched; end() waits for this.
        for (const job of jobs) await this.#opts.queue.release(job.id)
        return Number.POSITIVE_INFINITY
      }
      // Less than asked for: nothing more is due that this lane may take until a job ends or is queued.
      state.drained = jobs.length < free
      state.lookedAt = now
      state.dueAt = undefined
      for (const job of jobs) this.#run(lane, job)
    }
    if (this.core.busy(lane) < lane.concurrency) {
      // Only a job due later needs a timer. What is due now and was left waits for a finished job (which wakes
      // this): the lane's slots, or its owner's share, were full. Looking again at once would only spin.
      const due = await this.#opts.queue.nextDueAt(kinds, now)
      state.dueAt = due
      if (due !== undefined) nextAt = Math.min(nextAt, due)
    }
    return nextAt
  }

  #run(lane: Lane, job: Job): void {
    const { queue } = this.#opts
    const record: AttemptRecorder = {
      succeed: (result, now) => queue.succeed(job.id, result, now),
      retry: (error, runAt) => queue.retry(job.id, error, runAt),
      fail: (error, now) => queue.fail(job.id, error, now),
      cancel: (error, now) => queue.cancelled(job.id, error, now),
      release: () => queue.release(job.id),
      // Not reached while claims keep to the share (the claim passes over owners at it); the claim is undone.
      defer: () => queue.release(job.id),
      setStage: (stage) => queue.setStage(job.id, stage),
    }
    this.core
      .attempt(lane, job, record)
      .catch((err) => {
        // At-least-once: the job runs again once its release can be written.
        this.#opts.log.error(
          { err, jobId: job.id },
          'could not record the job outcome; it will be released and run again',
        )
        this.#unrecorded.add(job.id)
      })
      // Its slot is free, and its owner's share has room again: its lane has something to look at.
      .finally(() => {
        this.#undrain(lane)
        this.#look()
      })
  }

  protected stopTaking(): void {
    clearTimeout(this.#timer)
  }

  /** A handler that ignored its signal must not hold the process: its job is released here, for the next start. */
  protected async end(aborted: boolean): Promise<void> {
    // A look at the journal under way when stopping began puts back what it claims (#claimLane).
    await this.#looking
    if (!aborted) return
    for (const job of this.core.runningJobs()) await this.#opts.queue.release(job.id)
  }
}
