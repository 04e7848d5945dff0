import { type Job as BullJob, type JobType, Queue, QueueEvents } from 'bullmq'
import { Redis } from 'ioredis'
import type { Selectable } from 'kysely'
import type { Logger } from 'pino'
import type { Database } from '../db/database.ts'
import type { OutboxTable } from '../db/schema.ts'
import { DependencyDown, dependencyFailure, withDeadline } from '../dependencies.ts'
import type { WatchErrors } from '../error-events.ts'
import { JobErrorCode } from '../errors.ts'
import { NOT_STARTED, newJobRow, toJob } from './db-journal.ts'
import { MAX_PRIORITY, OWNER_RANK_TTL_SECONDS, ownerRankKey, RANK_JOBS } from './fair-rank.ts'
import type { FinishedStatus, Job, JobChange, JobErrorInfo, JobStatus, JobStore } from './types.ts'

/** What deckhand puts in a BullMQ job. The job's name is the kind; its id is deckhand's job id. */
export interface BullData {
  ownerId: string
  payload: unknown
  createdAt: number
  /**
   * Set when the job is called off (cancel()): a job taken after this is ended at once as cancelled, its handler
   * not run; one running is stopped by a message on cancelChannel. BullMQ keeps it as one of its failed jobs.
   */
  cancelled?: BullCancel
}

/** Why and when a BullMQ job was called off. */
export interface BullCancel extends JobErrorInfo {
  at: number
}

/** The Redis channel cancels of running jobs go out on, to every worker process; messages are CancelMessage. */
export const cancelChannel = (prefix: string) => `${prefix}:cancel`
export interface CancelMessage {
  id: string
  error: JobErrorInfo
}

/** What a worker writes as the job's progress: what clients see while it runs or waits to retry. */
export interface BullProgress {
  stage?: string | null
  lastError?: JobErrorInfo | null
  /** When the next attempt is due, while the job waits out a retry delay. */
  runAt?: number | null
  /**
   * Of a kind whose lane has a per-owner share: the attemptsStarted of the take that became an attempt. A take
   * without it is one the runner is about to defer (the owner's share was full): still queued to its owner.
   */
  started?: number | null
  /** Set on the write that marks the attempt begun (and only on it): what the event stream tells as running. */
  begun?: boolean
}

const STATES: Record<JobStatus, JobType[]> = {
  queued: ['waiting', 'delayed', 'prioritized', 'waiting-children'],
  running: ['active'],
  succeeded: ['completed'],
  failed: ['failed'],
  // Kept by BullMQ as failed (or, called off before it was taken, still waiting to be ended): told apart by BullData.cancelled.
  cancelled: ['failed', 'waiting', 'delayed', 'prioritized'],
}

/**
 * The Redis set of one owner's job ids of a kind handed to BullMQ and perhaps not finished: an index of where to
 * look, not a count. The store adds at hand-over (idempotent, so a relayed second hand-over is harmless), the runner
 * removes at the end of a job, and pendingCountOf() checks every member against its job and drops those finished or
 * gone. A member left behind by a crash is therefore dropped at the next count, never counted, and the count reads
 * only that owner's jobs, however many others wait. In the queue's keyspace, so that an obliterated queue takes it.
 */
export const ownerSetKey = (prefix: string, kind: string, ownerId: string) => `${prefix}:${kind}:pending-of:${ownerId}`

/**
 * KEYS[1]: an owner's set (ownerSetKey); ARGV[1]: the queue's job key prefix; ARGV[2..]: that owner's ids still in
 * the outbox. Counts the members whose job exists and has not finished (BullMQ sets finishedOn only at the end,
 * and clears it when a failed job is retried), drops the others, and adds the outbox ids not among them: one
 * script, so a hand-over between reads cannot count a job twice.
 */
const COUNT_OWNER_PENDING = `
local pending = {}
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local job = redis.call('HMGET', ARGV[1] .. id, 'timestamp', 'finishedOn')
  if job[1] and not job[2] then
    pending[id] = true
    n = n + 1
  else
    redis.call('SREM', KEYS[1], id)
  end
end
for i = 2, #ARGV do
  if not pending[ARGV[i]] then n = n + 1 end
end
return n
`

/** Jobs of a fair kind that oldestDue() reads from the front of its prioritized set. */
const FAIR_HEADS = 20

/** BullMQ's removeOnComplete / removeOnFail for a retention in ms; 0 keeps jobs. */
const keepFor = (ms: number) => (ms > 0 ? { age: Math.max(1, Math.round(ms / 1000)) } : false)

function toStatus(state: string): JobStatus {
  if (state === 'active') return 'running'
  if (state === 'completed') return 'succeeded'
  if (state === 'failed') return 'failed'
  return 'queued'
}

const progressOf = (job: BullJob<BullData>) =>
  (typeof job.progress === 'object' && job.progress ? job.progress : {}) as BullProgress

/**
 * Whether the latest take of a job became an attempt, for kinds whose lanes have a per-owner share: a worker may
 * take one of their jobs (BullMQ counts it started, shows it active) and hand it back unattempted, its owner's
 * share being full. The runner marks a take that goes ahead (BullProgress.started).
 */
const begun = (job: BullJob<BullData>) => progressOf(job).started === job.attemptsStarted

/**
 * A job as read in a state. Of a deferring kind, a take not begun is queued and not an attempt, whichever state
 * was read with it (the job and its state are two reads: a take handed back in between is seen half-way).
 */
function fromBullIn(job: BullJob<BullData>, state: string, deferring: ReadonlySet<string>): Job {
  if (!deferring.has(job.name) || begun(job)) return fromBull(job, toStatus(state))
  const status = state === 'active' ? 'queued' : toStatus(state)
  const read = fromBull(job, status)
  return { ...read, attempts: Math.max(0, read.attempts - 1), startedAt: status === 'queued' ? null : read.startedAt }
}

/**
 * Whether a job read in `status` is one called off: failed, or not yet ended by a worker (queued, or taken after the
 * cancel, which ends it without running it). Taken before it, it is running until its worker has stopped it.
 */
function isCancelled(job: BullJob<BullData>, status: JobStatus): boolean {
  const mark = job.data.cancelled
  if (!mark) return false
  if (status === 'failed' || status === 'queued') return true
  return status === 'running' && job.processedOn !== undefined && mark.at < job.processedOn
}

/** A BullMQ job as deckhand's Job. */
export function fromBull(job: BullJob<BullData>, read: JobStatus): Job {
  const progress = progressOf(job)
  const mark = job.data.cancelled
  const status: JobStatus = mark && isCancelled(job, read) ? 'cancelled' : read
  const finished = status === 'succeeded' || status === 'failed'
  const cancelled = mark && status === 'cancelled' ? { code: mark.code, message: mark.message } : undefined
  // A take after the cancel only ended the job: not an attempt, and it never started.
  const takenAfter = cancelled && job.processedOn !== undefined && (mark?.at as number) < job.processedOn
  return {
    id: job.id as string,
    kind: job.name,
    ownerId: job.data.ownerId,
    payload: job.data.payload,
    status,
    attempts: takenAfter ? Math.max(0, job.attemptsStarted - 1) : job.attemptsStarted,
    runAt: progress.runAt ?? job.timestamp,
    stage: status === 'running' ? (progress.stage ?? null) : null,
    lastError:
      cancelled ??
      (status === 'succeeded'
        ? null
        : (progress.lastError ??
          (job.failedReason ? { code: JobErrorCode.INTERNAL, message: job.failedReason } : null))),
    result: status === 'succeeded' ? (job.returnvalue ?? null) : null,
    createdAt: job.data.createdAt ?? job.timestamp,
    startedAt: takenAfter ? null : (job.processedOn ?? null),
    finishedAt: cancelled ? (job.finishedOn ?? (mark?.at as number)) : finished ? (job.finishedOn ?? null) : null,
  }
}

// A row still in the outbox is a job that no one has run yet: queued since its commit.
const fromOutbox = (row: Selectable<OutboxTable>): Job =>
  toJob({
    ...row,
    status: 'queued',
    attempts: 0,
    run_at: row.created_at,
    fair_rank: null,
    ...NOT_STARTED,
  })

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

  /**
   * `work` against Redis: refused at once while the connection is down (BullMQ would otherwise wait for it to
   * come back, for ever), and as a whole bounded by `deadlineMs` while it is up. Its connection failures leave as
   * DependencyDown. Sweeps pass no deadline: they read and clean many jobs, and each command has its limit.
   */
  async function fromRedis<T>(work: () => Promise<T>, deadlineMs: number | undefined = options.timeoutMs) {
    if (redis.status !== 'ready') throw new DependencyDown('redis', 'unreachable')
    try {
      return await (deadlineMs === undefined ? work() : withDeadline('redis', deadlineMs, work()))
    } catch (err) {
      const failure = err instanceof DependencyDown ? undefined : dependencyFailure(err)
      throw failure ? new DependencyDown('redis', failure.reason, { cause: err }) : err
    }
  }

  /**
   * The fair rows' ranks (src/jobs/fair-rank.ts), by id, in one script; no round trip when none is fair. A job
   * already handed over (a relayed second hand-over) is not moved: BullMQ ignores the add of an id it has.
   */
  async function ranksOf(rows: Selectable<OutboxTable>[]): Promise<Map<string, number>> {
    const ranked = rows.filter((row) => fair.has(row.kind))
    if (ranked.length === 0) return new Map()
    const keys = ranked.flatMap((row) => [
      queueOf(row.kind).toKey('prioritized'),
      ownerRankKey(options.prefix, row.kind, row.owner_id),
    ])
    const ranks = (await redis.eval(RANK_JOBS, keys.length, ...keys, OWNER_RANK_TTL_SECONDS, MAX_PRIORITY)) as number[]
    return new Map(ranked.map((row, i) => [row.id, Number(ranks[i])]))
  }

  async function handOver(all: Selectable<OutboxTable>[]): Promise<void> {
    // A kind this process has no queue for (a newer process wrote it, in a rolling deploy) stays in the outbox for
    // a process that knows it; it must not fail the hand-over of the rows beside it.
    const rows = all.filter((row) => queues.has(row.kind))
    if (rows.length === 0) return
    await fromRedis(async () => {
      const ranks = await ranksOf(rows)
      await Promise.all(
        rows.map((row) =>
          queueOf(row.kind).add(
            row.kind as never,
            { ownerId: row.owner_id, payload: JSON.parse(row.payload), createdAt: row.created_at },
            ranks.has(row.id) ? { jobId: row.id, priority: ranks.get(row.id) } : { jobId: row.id },
          ),
        ),
      )
      // Before the outbox row goes: until then the outbox counts the job, after it the owner's set does. Only kinds
      // whose pending jobs are counted per owner: the others would pay a round trip to Redis for nothing.
      const counted = rows.filter((row) => ownerCounted.has(row.kind))
      if (counted.length > 0) {
        const multi = redis.multi()
        for (const row of counted) multi.sadd(ownerSetKey(options.prefix, row.kind, row.owner_id), row.id)
        await multi.exec()
      }
    })
    await db
      .deleteFrom('outbox')
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .execute()
  }

  /*
   * Hand-overs of fair rows go one after another in this process: a rank is read from the jobs already waiting, so
   * one ranked before the job ranked just ahead of it was added would not see it (with nothing waiting, both would
   * start again at the front, out of their owner's order). Other rows go at once. Between processes two ranks may
   * still tie: equal ranks run first come, first served.
   */
  let fairTurn: Promise<void> = Promise.resolve()
  const handOverInTurn = (rows: Selectable<OutboxTable>[]) => {
    if (!rows.some((row) => fair.has(row.kind))) return handOver(rows)
    const turn = fairTurn.then(() => handOver(rows))
    fairTurn = turn.catch(() => {})
    return turn
  }

  /** Jobs committed but not yet handed over, per kind: how many, and the commit time of the oldest. */
  async function outboxByKind(): Promise<Map<string, { count: number; since: number }>> {
    const rows = await db
      .selectFrom('outbox')
      .select((eb) => ['kind', eb.fn.countAll<number>().as('count'), eb.fn.min('created_at').as('since')])
      .groupBy('kind')
      .execute()
    return new Map(rows.map((r) => [r.kind, { count: Number(r.count), since: Number(r.since) }]))
  }

  let sweeping: Promise<void> | undefined
  const unknownSeen = new Set<string>()
  const sweep = () => {
    sweeping ??= (async () => {
      // Redis away: the rows wait where they are; ioredis' reconnects are logged already.
      if (redis.status !== 'ready') return
      const rows = await db
        .selectFrom('outbox')
        .selectAll()
        .where('kind', 'in', [...queues.keys()])
        .orderBy('created_at')
        .limit(500)
        .execute()
      if (rows.length > 0) options.log.info({ jobs: rows.length }, 'relaying jobs left in the outbox')
      await handOverInTurn(rows)
      const unknown = await db
        .selectFrom('outbox')
        .select((eb) => ['kind', eb.fn.countAll<number>().as('count')])
        .where('kind', 'not in', [...queues.keys()])
        .groupBy('kind')
        .execute()
      // Once per kind, not at every pass: a rolling deploy may take a while.
      if (unknown.some((r) => !unknownSeen.has(r.kind))) {
        for (const r of unknown) unknownSeen.add(r.kind)
        options.log.warn(
          { waiting: Object.fromEntries(unknown.map((r) => [r.kind, Number(r.count)])) },
          'outbox rows of job kinds this process does not run wait for a process that does',
        )
      }
    })()
      .catch((err) => options.log.warn({ err }, 'outbox relay failed; will try again'))
      .finally(() => {
        sweeping = undefined
      })
    return sweeping
  }
  const timer = options.relayIntervalMs > 0 ? setInterval(sweep, options.relayIntervalMs).unref() : undefined
  if (timer) void sweep()

  // Jobs run and finish in other processes: BullMQ's event stream says when. Opened on the first listener only
  // (a worker process has none), one blocking connection per kind.
  let events: QueueEvents[] = []
  const settledListeners = new Set<(id: string) => void>()
  const changeListeners = new Set<(change: JobChange) => void>()
  const changed = (id: string, status: JobStatus, stage: string | null = null) => {
    for (const listener of changeListeners) listener({ id, status, stage })
  }
  const onSettledEvent =
    (status: FinishedStatus) =>
    ({ jobId }: { jobId: string }) => {
      changed(jobId, status)
      for (const listener of settledListeners) listener(jobId)
    }
  const listen = () => {
    if (events.length > 0) return
    events = options.kinds.map((kind) => {
      const queueEvents = new QueueEvents(kind, { connection: { url: options.redisUrl }, prefix: options.prefix })
      queueEvents.on('completed', onSettledEvent('succeeded'))
      queueEvents.on('failed', onSettledEvent('failed'))
      queueEvents.on('waiting', ({ jobId }) => changed(jobId, 'queued'))
      // A retry waits out its delay in the delayed set: queued again, as the journal shows it.
      queueEvents.on('delayed', ({ jobId }) => changed(jobId, 'queued'))
      // A take of a deferring kind is told when the runner marks it an attempt (a progress event, below).
      if (!deferring.has(kind)) queueEvents.on('active', ({ jobId }) => changed(jobId, 'running'))
      // Progress is the runner's record of a stage, of an attempt begun, and of an error at the end of an attempt.
      queueEvents.on('progress', ({ jobId, data }) => {
        const progress = data as BullProgress | undefined
        if (typeof progress?.stage === 'string') changed(jobId, 'running', progress.stage)
        else if (progress?.begun) changed(jobId, 'running')
      })
      options.watchErrors(queueEvents, 'redis', { kind, client: 'queue events' })
      return queueEvents
    })
  }

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
        handOverInTurn(rows).catch((err) =>
          options.log.warn({ err }, 'hand-over to BullMQ failed; the relay will retry'),
        )
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
      settledListeners.add(listener)
      listen()
    },

    onChange(listener) {
      changeListeners.add(listener)
      listen()
    },

    async pendingCount(kind) {
      const counts = await fromRedis(() => queueOf(kind).getJobCounts(...STATES.queued, ...STATES.running))
      const inOutbox = (await outboxByKind()).get(kind)?.count ?? 0
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
      if (row) await handOver([row])
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
        changed(id, 'cancelled')
        for (const listener of settledListeners) listener(id)
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
      const found = await fromRedis(async () => {
        const jobs = ((await queueOf(kind).getJobs(types)) as (BullJob<BullData> | undefined)[]).filter(
          (job) => job !== undefined,
        )
        return Promise.all(jobs.map(async (job) => fromBullIn(job, await job.getState(), deferring)))
      }, undefined)
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
        deleted += (await fromRedis(() => queue.clean(grace, limit - deleted, type), undefined)).length
      }
      return deleted
    },

    async oldestDue(now) {
      // Rows still in the outbox are due since their commit; in BullMQ the oldest waiting job is at the far end
      // of the wait list (a retried job waits in the delayed set until due, then joins it).
      const since = new Map([...(await outboxByKind())].map(([kind, r]) => [kind, r.since]))
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
      const inOutbox = await outboxByKind()
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
      clearInterval(timer)
      await sweeping
      // A connection that Redis dropped and that waits to reconnect never reports its end when closed (ioredis
      // emits no 'end' for it, and BullMQ waits for one), so each close gets timeoutMs and is then left behind:
      // its reconnect timer is cancelled by then, so nothing of it keeps the process alive.
      await Promise.all(
        [...queues.values(), ...events].map((q) =>
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
