import type { Db } from '../../db/database.ts'
import type { ChangeFeed } from '../change-feed.ts'
import type { JobStore } from '../types.ts'
import { type CancelMessage, cancelChannel, fromBull, fromBullIn } from './data.ts'
import type { FindJob } from './lookup.ts'
import { ownerSetKey } from './owner-pending.ts'
import type { BullQueues } from './queues.ts'
import type { OutboxRelay } from './relay.ts'

export interface BullAdminParts {
  db: Db
  queues: BullQueues
  relay: OutboxRelay
  find: FindJob
  feed: ChangeFeed
  prefix: string
  deferring: ReadonlySet<string>
  ownerCounted: ReadonlySet<string>
}

/**
 * What an owner or an admin asks of a job: called off (marked in its data, and every worker told), or a failed one
 * run again with a fresh set of attempts.
 */
export function bullAdmin(parts: BullAdminParts): Pick<JobStore, 'cancel' | 'requeueFailed'> {
  const { db, relay, find, feed, prefix, deferring, ownerCounted } = parts
  const { redis, calls } = parts.queues
  return {
    async cancel(id, error, now) {
      // Still in the outbox: handed over now, so that the one mark below covers it wherever it is.
      const row = await db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst()
      if (row) await relay.handOver([row])
      const found = await find(id)
      if (!found) return undefined
      const { job, state } = found
      if (state === 'completed' || state === 'failed' || job.data.cancelled) return fromBullIn(job, state, deferring)
      const message: CancelMessage = { id, error: { code: error.code, message: error.message } }
      await calls.bounded(async () => {
        await job.updateData({ ...job.data, cancelled: { ...message.error, at: now } })
        // No longer its owner's pending job (MAX_PENDING_JOBS_PER_USER), though a worker has yet to end it.
        if (ownerCounted.has(job.name)) await redis.srem(ownerSetKey(prefix, job.name, job.data.ownerId), id)
        // Waiting out a retry's delay: ended now rather than when it is due.
        if (state === 'delayed') await job.promote().catch(() => {})
        await redis.publish(cancelChannel(prefix), JSON.stringify(message))
      })
      const after = await find(id)
      const view = after && fromBullIn(after.job, after.state, deferring)
      if (view?.status === 'cancelled') {
        // Ended by a worker later (a failed event then); the streams and waiters of this process hear of it now.
        feed.changed(id, 'cancelled')
        feed.settled(id)
      }
      return view
    },

    async requeueFailed(id) {
      const found = await find(id)
      if (found?.state !== 'failed') return undefined
      const { job } = found
      await calls.bounded(async () => {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })
        // Pending again: back in its owner's set (the runner took it out when it failed).
        if (ownerCounted.has(job.name)) await redis.sadd(ownerSetKey(prefix, job.name, job.data.ownerId), id)
      })
      // As requeued: a worker may take it the next moment.
      return { ...fromBull(job, 'queued'), attempts: 0, stage: null, startedAt: null, finishedAt: null }
    },
  }
}
