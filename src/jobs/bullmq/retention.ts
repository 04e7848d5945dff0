import type { JobStore } from '../types.ts'
import type { BullQueues } from './queues.ts'

/**
 * The retention sweep's delete (src/jobs/retention.ts) on BullMQ: clean() on every queue, the oldest first, at most
 * `limit` in all. BullMQ applies removeOnComplete / removeOnFail only when another job of the queue finishes, so an
 * idle queue is emptied by this.
 */
export const bullDeleteFinished =
  ({ queues, calls }: BullQueues): JobStore['deleteFinished'] =>
  async (status, before, limit) => {
    // BullMQ keeps a cancelled job as failed: it goes with them (the retention sweep keeps both as long).
    if (status === 'cancelled') return 0
    const type = status === 'succeeded' ? 'completed' : 'failed'
    const grace = Math.max(0, Date.now() - before)
    let deleted = 0
    for (const queue of queues.values()) {
      if (deleted >= limit) break
      // clean() takes the oldest first, at most `limit` (0 would mean all of them: never asked for).
      deleted += (await calls.sweep(() => queue.clean(grace, limit - deleted, type))).length
    }
    return deleted
  }
