import { type Job as BullJob, Queue } from 'bullmq'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Database } from '../../db/database.ts'
import { withDeadline } from '../../dependencies.ts'
import type { WatchErrors } from '../../error-events.ts'
import { newJobRow } from '../job-rows.ts'
import type { FinishedStatus, JobStatus, JobStore } from '../types.ts'
import {
  type BullData,
  begun,
  type CancelMessage,
  cancelChannel,
  fromBull,
  fromBullIn,
  fromOutbox,
  STATES,
  toStatus,
} from './data.ts'
import { BullEvents } from './events.ts'
import { COUNT_OWNER_PENDING, ownerSetKey } from './owner-pending.ts'
import { redisCalls } from './redis-calls.ts'
import { createOutboxRelay } from './relay.ts'

/** Jobs of a fair kind that oldestDue() reads from the front of its prioritized set. */
const FAIR_HEADS = 20

/** BullMQ's removeOnComplete / removeOnFail for a retention in ms; 0 keeps jobs. */
const keepFor = (ms: number) => (ms > 0 ? { age: Math.max(1, Math.round(ms / 1000)) } : false)

export interface BullStoreOptions {
  redisUrl: string
  prefix: string
  kinds: readonly string[]
  maxAttempts: number
  /** Succeeded jobs are removed this long after they finished; 0 keeps them (JOB_RETENTION_MS). */
  keepSucceededMs: number
  /** Failed jobs likewise (FAILED_JOB_RETENTION_MS). */
  keepFailedMs: number
  /** Relay outbox rows left behind (a crash or a Redis outage between commit and hand-over) this often; 0: never. */
  relayIntervalMs: number
  /**
   * Kinds whose lanes have a per-owner share (Lane.perOwner): a worker may take one of their jobs and hand it back
   * unattempted, so they show as running only once the runner marks the attempt begun (BullProgress.started).
   */
  deferringKinds?: readonly string[]
  /** Kinds dispatched fairly between owners (src/jobs/fair-rank.ts): their jobs carry a rank as BullMQ priority. */
  fairKinds?: readonly string[]
  /** Kinds whose pending jobs are counted per owner (pendingCountOf); unset, every kind. */
  ownerCountedKinds?: readonly string[]
  /** Longest one call to Redis may take before it fails as DependencyDown (DEPENDENCY_TIMEOUT_MS). */
  timeoutMs: number
  log: Logger
  /** Listens for 'error' on each queue and event stream (their ioredis connections report there). */
  watchErrors: WatchErrors
}

export type BullStore = JobStore & {
  queues: ReadonlyMap<string, Queue>
  /**
   * Resolves once the connection is ready, or after `ms` if it is not: requests are refused while it connects,
   * so a process waits this long for it at start, but Redis away is no reason not to start.
   */
  connected(ms: number): Promise<boolean>
}

/**
 * Jobs in BullMQ, one queue per kind. Enqueuing writes an outbox row in the same database transaction as the
 * rest (a user, an upload's number); after commit the row is handed to BullMQ under the job's own id and
 * deleted. Should the process die or Redis be away in between, the relay sweep hands it over later; the id
 * makes a second hand-over a no-op (BullMQ ignores a job id it already has).
 */
export function createBullStore(database: Database, options: BullStoreOptions): BullStore {
  const { db } = database
  const target = new URL(options.redisUrl)
  const deferring = new Set(options.deferringKinds)
  const ownerCounted = new Set(options.ownerCountedKinds ?? options.kinds)
  const fair = new Set(options.fairKinds)
  // The queues' one connection serves requests, so it fails instead of waiting: no offline queue (a command
  // while Redis is away is refused at once, where ioredis would hold it through 20 reconnects), and time limits
  // on connecting and on every command (a hung Redis). Workers and the event stream keep their own blocking
  // connections, which BullMQ needs to wait for ever (maxRetriesPerRequest null).
  const redis = new Redis(options.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: options.timeoutMs,
    commandTimeout: options.timeoutMs,
  })
  const queues = new Map(
    options.kinds.map((kind) => [
      kind,
      new Queue(kind, {
        connection: redis,
        prefix: options.prefix,
        defaultJobOptions: {
          attempts: options.maxAttempts,
          backoff: { type: 'deckhand' },
          // BullMQ removes these only when another job of the queue finishes; an idle queue is emptied by
          // deleteFinished() on the retention sweep's timer.
          removeOnComplete: keepFor(options.keepSucceededMs),
          removeOnFail: keepFor(options.keepFailedMs),
        },
      }),
    ]),
  )
  for (const [kind, queue] of queues) options.watchErrors(queue, 'redis', { kind, client: 'queue' })
  const queueOf = (kind: string) => {
    const queue = queues.get(kind)
    if (!queue) throw new Error(`no queue for job kind "${kind}"`)
    return queue
  }

  const calls = redisCalls(redis, options.timeoutMs)
  const fromRedis = calls.bounded
  const relay = createOutboxRelay({
    db,
    redis,
    fromRedis,
    queues,
    prefix: options.prefix,
    fair,
    ownerCounted,
    intervalMs: options.relayIntervalMs,
    log: options.log,
  })
  const feed = new BullEvents({
    redisUrl: options.redisUrl,
    prefix: options.prefix,
    kinds: options.kinds,
    deferring,
    watchErrors: options.watchErrors,
  })

  /** The job and its state, in one bounded call to Redis. */
  const find = (id: string) =>
    fromRedis(async () => {
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

  return {
    describe: `BullMQ at ${target.hostname}:${target.port || 6379} (prefix ${options.prefix}), outbox in ${database.describe}`,
    queues,

    async enqueue(tx, jobs) {
      if (jobs.length === 0) return []
      const now = Date.now()
      const rows = jobs.map((job) => newJobRow(job, now))
      await tx.db.insertInto('outbox').values(rows).execute()
      // Committed: the jobs are safe in the outbox. The hand-over runs behind the answer, never awaited by it; a
      // failure is the sweep's to repair, and is logged, never the client's error. With Redis away it is left to
      // the sweep at once.
      tx.afterCommit(() => {
        if (redis.status !== 'ready') return
        relay
          .handOver(rows)
          .catch((err) => options.log.warn({ err }, 'hand-over to BullMQ failed; the relay will retry'))
      })
      return rows.map(fromOutbox)
    },

    async get(id) {
      // The outbox first: a job leaves it only after BullMQ has it, so one of the two lookups always finds it.
      const row = await db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst()
      if (row) return fromOutbox(row)
      const found = await find(id)
      return found && fromBullIn(found.job, found.state, deferring)
    },

    onSettled(listener) {
      feed.onSettled(listener)
    },

    onChange(listener) {
      feed.onChange(listener)
    },

    async pendingCount(kind) {
      const counts = await fromRedis(() => queueOf(kind).getJobCounts(...STATES.queued, ...STATES.running))
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
      const count = await fromRedis(() =>
        redis.eval(
          COUNT_OWNER_PENDING,
          1,
          ownerSetKey(options.prefix, kind, ownerId),
          queue.toKey(''),
          ...waiting.map((r) => r.id),
        ),
      )
      return Number(count)
    },

    async list({ status, kind, limit }) {
      const kinds = kind === undefined ? [...queues.keys()] : queues.has(kind) ? [kind] : []
      const lists = await fromRedis(() =>
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

    async cancel(id, error, now) {
      // Still in the outbox: handed over now, so that the one mark below covers it wherever it is.
      const row = await db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst()
      if (row) await relay.handOver([row])
      const found = await find(id)
      if (!found) return undefined
      const { job, state } = found
      if (state === 'completed' || state === 'failed' || job.data.cancelled) return fromBullIn(job, state, deferring)
      const message: CancelMessage = { id, error: { code: error.code, message: error.message } }
      await fromRedis(async () => {
        await job.updateData({ ...job.data, cancelled: { ...message.error, at: now } })
        // No longer its owner's pending job (MAX_PENDING_JOBS_PER_USER), though a worker has yet to end it.
        if (ownerCounted.has(job.name)) await redis.srem(ownerSetKey(options.prefix, job.name, job.data.ownerId), id)
        // Waiting out a retry's delay: ended now rather than when it is due.
        if (state === 'delayed') await job.promote().catch(() => {})
        await redis.publish(cancelChannel(options.prefix), JSON.stringify(message))
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
      await fromRedis(async () => {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })
        // Pending again: back in its owner's set (the runner took it out when it failed).
        if (ownerCounted.has(job.name)) await redis.sadd(ownerSetKey(options.prefix, job.name, job.data.ownerId), id)
      })
      // As requeued: a worker may take it the next moment.
      return { ...fromBull(job, 'queued'), attempts: 0, stage: null, startedAt: null, finishedAt: null }
    },

    async listAll(kind, statuses) {
      const types = statuses.flatMap((status) => STATES[status])
      // The outbox first, for the reason get() reads it first: a job leaves it only once BullMQ has it.
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

    async deleteFinished(status: FinishedStatus, before, limit) {
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
    },

    async oldestDue(now) {
      // Rows still in the outbox are due since their commit; in BullMQ the oldest waiting job is at the far end
      // of the wait list (a retried job waits in the delayed set until due, then joins it).
      const since = new Map([...(await relay.byKind())].map(([kind, r]) => [kind, r.since]))
      // A fair kind's jobs wait in the prioritized set, in rank order, where each owner's oldest job is among the
      // first: the first FAIR_HEADS are read, exact while fewer owners than that wait.
      for (const [kind, queue] of queues) {
        const waiting = await fromRedis(() =>
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
        const counts = await fromRedis(() => queue.getJobCounts(...Object.values(STATES).flat()))
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

    async close() {
      await relay.close()
      // A connection that Redis dropped and that waits to reconnect never reports its end when closed (ioredis
      // emits no 'end' for it, and BullMQ waits for one), so each close gets timeoutMs and is then left behind:
      // its reconnect timer is cancelled by then, so nothing of it keeps the process alive.
      await Promise.all(
        [...queues.values(), ...feed.connections].map((q) =>
          withDeadline('redis', options.timeoutMs, q.close()).catch((err) =>
            options.log.warn({ err }, 'a Redis connection did not close in time; left behind'),
          ),
        ),
      )
      // Shared by the queues, so none of them closes it.
      redis.disconnect()
    },

    async ping() {
      await fromRedis(() => redis.ping())
    },

    async connected(ms) {
      if (redis.status === 'ready') return true
      // Not events.once(): it rejects on the first 'error', and a refused connection is an answer here too.
      let settle: (ready: boolean) => void = () => {}
      const timer = setTimeout(() => settle(false), ms)
      const onReady = () => settle(true)
      redis.once('ready', onReady)
      const ready = await new Promise<boolean>((resolve) => {
        settle = resolve
      })
      clearTimeout(timer)
      redis.off('ready', onReady)
      return ready
    },
  }
}
