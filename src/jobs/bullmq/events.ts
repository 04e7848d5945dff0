import { QueueEvents } from 'bullmq'
import type { WatchErrors } from '../../error-events.ts'
import { ChangeFeed } from '../change-feed.ts'
import type { FinishedStatus } from '../types.ts'
import type { BullProgress } from './data.ts'

export interface BullEventsOptions {
  redisUrl: string
  prefix: string
  kinds: readonly string[]
  /** Kinds whose takes are told as running only once the runner marks the attempt begun. */
  deferring: ReadonlySet<string>
  watchErrors: WatchErrors
}

/**
 * Jobs run and finish in other processes: BullMQ's event stream says when, and this feed tells this process's
 * waiters and event streams. Opened on the first listener only (a worker process has none), one blocking connection
 * per kind.
 */
export class BullEvents extends ChangeFeed {
  readonly #options: BullEventsOptions
  #events: QueueEvents[] = []

  constructor(options: BullEventsOptions) {
    super()
    this.#options = options
  }

  override onSettled(listener: (id: string) => void): void {
    super.onSettled(listener)
    this.#listen()
  }

  override onChange(listener: Parameters<ChangeFeed['onChange']>[0]): void {
    super.onChange(listener)
    this.#listen()
  }

  /** The event streams' connections, for the store to close. */
  get connections(): readonly QueueEvents[] {
    return this.#events
  }

  #listen(): void {
    if (this.#events.length > 0) return
    const { redisUrl, prefix, kinds, deferring, watchErrors } = this.#options
    const settled =
      (status: FinishedStatus) =>
      ({ jobId }: { jobId: string }) => {
        this.changed(jobId, status)
        this.settled(jobId)
      }
    this.#events = kinds.map((kind) => {
      const queueEvents = new QueueEvents(kind, { connection: { url: redisUrl }, prefix })
      queueEvents.on('completed', settled('succeeded'))
      queueEvents.on('failed', settled('failed'))
      queueEvents.on('waiting', ({ jobId }) => this.changed(jobId, 'queued'))
      // A retry waits out its delay in the delayed set: queued again, as the journal shows it.
      queueEvents.on('delayed', ({ jobId }) => this.changed(jobId, 'queued'))
      // A take of a deferring kind is told when the runner marks it an attempt (a progress event, below).
      if (!deferring.has(kind)) queueEvents.on('active', ({ jobId }) => this.changed(jobId, 'running'))
      // Progress is the runner's record of a stage, of an attempt begun, and of an error at the end of an attempt.
      queueEvents.on('progress', ({ jobId, data }) => {
        const progress = data as BullProgress | undefined
        if (typeof progress?.stage === 'string') this.changed(jobId, 'running', progress.stage)
        else if (progress?.begun) this.changed(jobId, 'running')
      })
      watchErrors(queueEvents, 'redis', { kind, client: 'queue events' })
      return queueEvents
    })
  }
}
