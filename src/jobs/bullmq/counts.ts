import type { Db } from '../../db/database.ts'
import type { JobStatus, JobStore } from '../types.ts'
import { STATES, toStatus } from './data.ts'
import { COUNT_OWNER_PENDING, ownerSetKey } from './owner-pending.ts'
import type { BullQueues } from './queues.ts'
import type { OutboxRelay } from './relay.ts'

/** Jobs of a fair kind that oldestDue() reads from the front of its prioritized set. */
const FAIR_HEADS = 20

/**
 * What BullMQ and the outbox hold, counted: pending jobs (backpressure), the oldest due and the depth of each kind
 * (metrics). A job still in the outbox counts as queued.
 */
export function bullCounts(
  db: Db,
  q: BullQueues,
  relay: OutboxRelay,
  prefix: string,
  fair: ReadonlySet<string>,
): Pick<JobStore, 'pendingCount' | 'pendingCountOf' | 'oldestDue' | 'depth'> {
  const { redis, queues, queueOf, calls } = q
  return {
    async pendingCount(kind) {
      const counts = await calls.bounded(() => queueOf(kind).getJobCounts(...STATES.queued, ...STATES.running))
      const inOutbox = (await relay.byKind()).get(kind)?.count ?? 0
      return Object.values(counts).reduce((a, b) => a + b, 0) + inOutbox
    },

    async pendingCountOf(kind, ownerId) {
      const queue = queueOf(kind)
      // The outbox holds few rows (those committed and not yet handed over), so no index of its owners is needed.
      const waiting = await db
        .selectFrom('outbox')
        .select('id')
        .where('kind', '=', kind)
        .where('owner_id', '=', ownerId)
        .execute()
      const count = await calls.bounded(() =>
        redis.eval(
          COUNT_OWNER_PENDING,
          1,
          ownerSetKey(prefix, kind, ownerId),
          queue.toKey(''),
          ...waiting.map((r) => r.id),
        ),
      )
      return Number(count)
    },

    async oldestDue(now) {
      // Rows still in the outbox are due since their commit; in BullMQ the oldest waiting job is at the far end
      // of the wait list (a retried job waits in the delayed set until due, then joins it).
      const since = new Map([...(await relay.byKind())].map(([kind, r]) => [kind, r.since]))
      // A fair kind's jobs wait in the prioritized set, in rank order, where each owner's oldest job is among the
      // first: the first FAIR_HEADS are read, exact while fewer owners than that wait.
      for (const [kind, queue] of queues) {
        const waiting = await calls.bounded(() =>
          fair.has(kind)
            ? queue.getJobs(['prioritized'], 0, FAIR_HEADS - 1, true)
            : queue.getJobs(['wait'], 0, 0, true),
        )
        for (const job of waiting) {
          if (!job) continue
          const due = Math.min(job.timestamp + (job.delay ?? 0), now)
          since.set(kind, Math.min(since.get(kind) ?? due, due))
        }
      }
      return [...since].map(([kind, dueSince]) => ({ kind, dueSince }))
    },

    async depth() {
      const out: { kind: string; status: JobStatus; count: number }[] = []
      const inOutbox = await relay.byKind()
      for (const [kind, queue] of queues) {
        const counts = await calls.bounded(() => queue.getJobCounts(...Object.values(STATES).flat()))
        const byStatus = new Map<JobStatus, number>()
        for (const [state, n] of Object.entries(counts)) {
          const status = toStatus(state)
          byStatus.set(status, (byStatus.get(status) ?? 0) + n)
        }
        byStatus.set('queued', (byStatus.get('queued') ?? 0) + (inOutbox.get(kind)?.count ?? 0))
        for (const [status, count] of byStatus) if (count > 0) out.push({ kind, status, count })
      }
      return out
    },
  }
}
