import type { JobChange, JobStatus } from './types.ts'

/**
 * Who in this process hears of jobs moving on: waiters (settled) and event streams (every change). Both stores tell
 * it what they see, the journal as its runner records it, BullMQ's store as its queue events arrive.
 */
export class ChangeFeed {
  readonly #settled = new Set<(id: string) => void>()
  readonly #changes = new Set<(change: JobChange) => void>()

  onSettled(listener: (id: string) => void): void {
    this.#settled.add(listener)
  }

  onChange(listener: (change: JobChange) => void): void {
    this.#changes.add(listener)
  }

  /** A job moved on: queued, running, a new stage, queued again for a retry, finished. */
  changed(id: string, status: JobStatus, stage: string | null = null): void {
    for (const listener of this.#changes) listener({ id, status, stage })
  }

  /** A job reached a final state. */
  settled(id: string): void {
    for (const listener of this.#settled) listener(id)
  }
}
