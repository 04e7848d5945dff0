import type { Job as BullJob } from 'bullmq'
import type { Db } from '../../db/database.ts'
import type { JobStore } from '../types.ts'
import { type BullData, begun, fromBull, fromBullIn, fromOutbox, STATES } from './data.ts'
import type { BullQueues } from './queues.ts'

export type FindJob = (id: string) => Promise<{ job: BullJob<BullData>; state: string } | undefined>

/** A BullMQ job and its state, by id, whatever its queue, in one bounded call to Redis. */
export const findJob =
  ({ queues, calls }: BullQueues): FindJob =>
  (id) =>
    calls.bounded(async () => {
      const found = await Promise.all([...queues.values()].map((q) => q.getJob(id)))
      const at = found.findIndex((j) => j !== undefined)
      let job = found[at]
      if (!job) return undefined
      const state = await job.getState()
      // The job was read before its state: one that finished in between is in its final state, but what was read
      // has no outcome yet (no error, no result). BullMQ writes the state and the outcome in one script, so a
      // second read has both.
      if ((state === 'completed' || state === 'failed') && !job.finishedOn)
        job = (await [...queues.values()][at]?.getJob(id)) ?? job
      return { job, state }
    })

/**
 * Jobs read back: one by id, the newest of a status, every job of a kind in some statuses. The outbox is read
 * first: a job leaves it only once BullMQ has it, so one of the two reads always finds it.
 */
export function bullLookup(
  db: Db,
  q: BullQueues,
  find: FindJob,
  deferring: ReadonlySet<string>,
): Pick<JobStore, 'get' | 'list' | 'listAll'> {
  const { queues, queueOf, calls } = q
  return {
    async get(id) {
      const row = await db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst()
      if (row) return fromOutbox(row)
      const found = await find(id)
      return found && fromBullIn(found.job, found.state, deferring)
    },

    async list({ status, kind, limit }) {
      const kinds = kind === undefined ? [...queues.keys()] : queues.has(kind) ? [kind] : []
      const lists = await calls.bounded(() =>
        Promise.all(
          kinds.map(async (k) => {
            const jobs = (await queueOf(k).getJobs(STATES[status], 0, limit - 1, false)) as BullJob<BullData>[]
            // A cancelled job is read among the failed (or queued) ones: its status tells it apart.
            const read = status === 'cancelled' ? 'failed' : status
            return jobs
              .filter((j) => j && (status !== 'running' || !deferring.has(j.name) || begun(j)))
              .map((j) => fromBull(j, j.data.cancelled && status === 'cancelled' && !j.finishedOn ? 'queued' : read))
              .filter((j) => j.status === status)
          }),
        ),
      )
      return lists
        .flat()
        .sort((a, b) => b.createdAt - a.createdAt)
        .slice(0, limit)
    },

    async listAll(kind, statuses) {
      const types = statuses.flatMap((status) => STATES[status])
      const waiting = statuses.includes('queued')
        ? await db.selectFrom('outbox').selectAll().where('kind', '=', kind).execute()
        : []
      // One getJobs call reads the ids of every state in one script, so a job changing state is not missed.
      const found = await calls.sweep(async () => {
        const jobs = ((await queueOf(kind).getJobs(types)) as (BullJob<BullData> | undefined)[]).filter(
          (job) => job !== undefined,
        )
        return Promise.all(jobs.map(async (job) => fromBullIn(job, await job.getState(), deferring)))
      })
      return [...waiting.map(fromOutbox), ...found.filter((job) => statuses.includes(job.status))]
    },
  }
}
