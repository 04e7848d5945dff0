import os from 'node:os'
import { type Job as BullJob, DelayedError, UnrecoverableError, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import type { WatchErrors } from '../../error-events.ts'
import { retryDelay } from '../backoff.ts'
import { CoreRunner, RunnerCore, type RunnerOptions } from '../runner-core.ts'
import type { Lane } from '../types.ts'
import { type BullData, type CancelMessage, cancelChannel, fromBull } from './data.ts'
import { ownerSetKey } from './owner-pending.ts'
import { bullRecorder } from './recorder.ts'

export interface BullRunnerOptions extends RunnerOptions {
  redisUrl: string
  prefix: string
  /** A job whose worker stops renewing its lock (it died) goes to another worker after this long. */
  stalledAfterMs: number
  /** Listens for 'error' on each BullMQ worker (its ioredis connections report there). */
  watchErrors: WatchErrors
  /** Kinds whose pending jobs the store counts per owner: their ends take the job out of its owner's set. */
  ownerCountedKinds: readonly string[]
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
 * Runs jobs from BullMQ through the runner core: one Worker per job kind, each lane's concurrency per kind. The
 * core decides each outcome as it does for the journal; this backend writes it as BullMQ understands it (a
 * returned result, a RetryLater carrying the core's delay, an UnrecoverableError, a move back to the queue). A
 * job whose process died is taken over by another worker once its lock lapses (BullMQ's stalled-job check).
 */
export class BullRunner extends CoreRunner {
  readonly #opts: BullRunnerOptions
  readonly #workers: Worker[] = []
  /** Hears cancels of running jobs from whichever process asked (cancelChannel). */
  #cancels: Redis | undefined
  /** Names this process in BullMQ (`processedBy`), so an operator can tell which worker ran what. */
  readonly name = `${os.hostname()}:${process.pid}`

  constructor(options: BullRunnerOptions) {
    super(new RunnerCore(options))
    this.#opts = options
  }

  protected async begin(): Promise<void> {
    const { redisUrl, prefix, stalledAfterMs, maxAttempts, retryBaseMs, retryMaxMs } = this.#opts
    // Before the workers: a job taken from here on is either marked (BullData.cancelled) or will hear of it.
    const cancels = new Redis(redisUrl, { maxRetriesPerRequest: null })
    this.#opts.watchErrors(cancels, 'redis', { client: 'cancels' })
    cancels.on('message', (_channel: string, text: string) => {
      try {
        const { id, error } = JSON.parse(text) as CancelMessage
        this.core.cancel(id, error)
      } catch (err) {
        this.#opts.log.warn({ err }, 'unreadable cancel message')
      }
    })
    await cancels.subscribe(cancelChannel(prefix))
    this.#cancels = cancels
    for (const lane of this.#opts.lanes) {
      for (const kind of Object.keys(lane.handlers)) {
        const worker: Worker = new Worker(
          kind,
          (job, token) => this.#process(worker, lane, job as BullJob<BullData>, token),
          {
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
          },
        )
        this.#opts.watchErrors(worker, 'redis', { kind, client: 'worker' })
        this.#workers.push(worker)
      }
    }
    await Promise.all(this.#workers.map((w) => w.waitUntilReady()))
  }

  async #process(worker: Worker, lane: Lane, bullJob: BullJob<BullData>, token: string | undefined): Promise<unknown> {
    const job = fromBull(bullJob, 'running')
    // Called off before it was taken: the attempt ends at once, its handler not run.
    const mark = bullJob.data.cancelled
    if (mark) this.core.cancel(job.id, { code: mark.code, message: mark.message })
    // attemptsMade counts the attempts that already failed; this one is not among them yet.
    const record = bullRecorder(worker, lane, bullJob, job, token, this.#opts.log)
    const outcome = await this.core.attempt(lane, job, record, bullJob.attemptsMade + 1)
    const ended = outcome.type === 'succeeded' || outcome.type === 'failed' || outcome.type === 'cancelled'
    if (ended && this.#opts.ownerCountedKinds.includes(job.kind))
      await this.#forget(worker, job.kind, job.ownerId, job.id)
    switch (outcome.type) {
      case 'succeeded':
        return outcome.result ?? null
      case 'retry':
        throw new RetryLater(outcome.error.message, outcome.delayMs)
      case 'failed':
      case 'cancelled':
        throw new UnrecoverableError(outcome.error.message)
      case 'interrupted':
      case 'deferred':
        throw new DelayedError()
    }
  }

  /**
   * Out of its owner's set of pending jobs (see ownerSetKey): keeps the set to that owner's pending jobs, so counts
   * stay short and an owner who stops uploading leaves nothing behind. Best effort, just before BullMQ records the
   * end (a count in between misses this job, a moment early): one missed is dropped by the next count.
   */
  async #forget(worker: Worker, kind: string, ownerId: string, id: string): Promise<void> {
    try {
      // BullMQ's own type of its connection names only what its scripts use; it is an ioredis client.
      const redis = (await worker.backend.client) as unknown as Redis
      await redis.srem(ownerSetKey(this.#opts.prefix, kind, ownerId), id)
    } catch (err) {
      this.#opts.log.warn({ err, jobId: id }, "job not taken out of its owner's pending set; the next count will")
    }
  }

  protected stopTaking(): void {
    for (const worker of this.#workers) {
      worker.pause(true).catch((err) => this.#opts.log.warn({ err }, 'could not pause a worker'))
    }
  }

  /**
   * A handler that ignored its signal does not hold the process: its job's lock lapses and another worker takes
   * it over.
   */
  protected async end(aborted: boolean): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.close(aborted)))
    this.#cancels?.disconnect()
  }
}
