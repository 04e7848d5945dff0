import { PostgresAdapter, type SelectQueryBuilder, sql } from 'kysely'
import { compiledOnce } from '../db/compiled.ts'
import type { Database, Db } from '../db/database.ts'
import type { Schema } from '../db/schema.ts'
import type { Transaction } from '../db/transaction.ts'
import { ChangeFeed } from './change-feed.ts'
import { fairRank } from './fair-rank.ts'
import { doneToJob, type JobRow, NOT_STARTED, newJobRow, storedResult, toJob } from './job-rows.ts'
import type { JobErrorInfo, JobStatus, Journal, NewJob } from './types.ts'

/*
 * The journal's hot statements, built and compiled once (see compiledOnce): an enqueue, a claim and an outcome
 * for every job.
 */
const insertJobsOf = new Map<number, ReturnType<typeof insertJobsQuery>>()
const insertJobsQuery = (count: number) =>
  compiledOnce((db, value) =>
    db.insertInto('jobs').values(
      Array.from({ length: count }, (_, i) => ({
        id: value(6 * i),
        kind: value(6 * i + 1),
        owner_id: value(6 * i + 2),
        payload: value(6 * i + 3),
        created_at: value(6 * i + 4),
        status: 'queued' as const,
        run_at: value(6 * i + 4),
        fair_rank: value(6 * i + 5),
        ...NOT_STARTED,
      })),
    ),
  )
/** Inserts `count` jobs; values: id, kind, owner, payload (JSON), now, fair rank (or null) for each. */
const insertJobs = (count: number) => {
  let query = insertJobsOf.get(count)
  if (!query) {
    query = insertJobsQuery(count)
    // Enqueues come in a few sizes (one, two); anything else is rare enough to build each time.
    if (count <= 8) insertJobsOf.set(count, query)
  }
  return query
}

/** The ids a claim picks, as a subquery of `jobs`: the frame claimKind and claimFair share. */
type PickDue = (
  jobs: SelectQueryBuilder<Schema, 'jobs', { id: string }>,
) => SelectQueryBuilder<Schema, 'jobs', { id: string }>

/** Marks the jobs `pick` chooses running (at `startedAt`, a slot of the compiled query) and answers them. */
function claimPicked(db: Db, startedAt: never, pick: PickDue) {
  return db
    .updateTable('jobs')
    .set((eb) => ({ status: 'running', attempts: eb('attempts', '+', 1), started_at: startedAt }))
    .where('id', 'in', (eb) => {
      const due = pick(eb.selectFrom('jobs').select('id'))
      // One claimer per row in PostgreSQL, where several processes may claim at once.
      return db.getExecutor().adapter instanceof PostgresAdapter ? due.forUpdate().skipLocked() : due
    })
    .returningAll()
}

/** Claims a kind's oldest due jobs; values: now (started_at), kind, now (due by), how many. */
const claimKind = compiledOnce((db, value) =>
  claimPicked(db, value(0), (jobs) =>
    jobs
      .where('status', '=', 'queued')
      .where('kind', '=', value(1))
      .where('run_at', '<=', value(2))
      .orderBy('run_at')
      .orderBy('created_at')
      .limit(value(3)),
  ),
)

/*
 * Fair kinds (src/jobs/fair-rank.ts) are claimed through jobs_fair_claim, which holds only queued rows with a rank
 * (migration 0007). Its condition is written out as a literal, as the index has it: a bound value would not tell
 * the planners (SQLite's nor PostgreSQL's generic plan) that the partial index covers the query.
 */
const QUEUED_RANKED = sql<boolean>`status = 'queued' AND fair_rank IS NOT NULL`
/**
 * run_at as a claim in rank order compares it: `+run_at` keeps SQLite from reading jobs_claim_order's range of
 * due rows and sorting them (which it preferred, with no statistics to tell it otherwise) over walking
 * jobs_fair_claim in order and stopping at the limit.
 */
const RUN_AT = sql<number>`+run_at`

/** Claims a fair kind's due jobs lowest rank first; values: now (started_at), kind, now (due by), how many. */
const claimFair = compiledOnce((db, value) =>
  claimPicked(db, value(0), (jobs) =>
    jobs
      .where(QUEUED_RANKED)
      .where('kind', '=', value(1))
      .where(RUN_AT, '<=', value(2))
      .orderBy('fair_rank')
      .orderBy('run_at')
      .orderBy('created_at')
      .limit(value(3)),
  ),
)

/**
 * What a fair job's rank is set from, in one statement: the kind's front (its lowest rank queued and due, the
 * first row of jobs_fair_claim past any retry still waiting) and the owner's last rank queued (the last row of its
 * slice of jobs_fair_owner). values: kind, now, kind, owner.
 */
const rankBounds = compiledOnce((db, value) =>
  db.selectNoFrom((eb) => [
    eb
      .selectFrom('jobs')
      .select('fair_rank')
      .where(QUEUED_RANKED)
      .where('kind', '=', value(0))
      .where('run_at', '<=', value(1))
      .orderBy('fair_rank')
      .limit(1)
      .as('front'),
    eb
      .selectFrom('jobs')
      .select('fair_rank')
      .where(QUEUED_RANKED)
      .where('kind', '=', value(2))
      .where('owner_id', '=', value(3))
      .orderBy('fair_rank', 'desc')
      .limit(1)
      .as('last'),
  ]),
)

/** How many candidates a shared claim reads per job it may take, past owners already at their share. */
const LOOK_AHEAD = 4
/** Reads of candidates in one shared claim of a kind, at most; each passes over the owners the last one filled. */
const MAX_READS = 4

/**
 * Claims up to `want` of a kind's oldest due jobs, no owner past `perOwner` jobs running: `owners` holds each
 * owner's running count and is updated with what this claims. Reads a bounded look-ahead of candidates in claim
 * order, leaving out owners already at their share, picks in JS, and claims exactly the picked ids, all within
 * `tx`. Built per call: the owners left out change every time (and are at most the lane's slots).
 */
async function claimShared(
  tx: Db,
  kind: string,
  fair: boolean,
  want: number,
  now: number,
  perOwner: number,
  owners: Map<string, number>,
): Promise<JobRow[]> {
  const postgres = tx.getExecutor().adapter instanceof PostgresAdapter
  const picked: string[] = []
  for (let read = 0; read < MAX_READS && picked.length < want; read++) {
    const full = [...owners].flatMap(([owner, n]) => (n >= perOwner ? [owner] : []))
    const limit = LOOK_AHEAD * (want - picked.length)
    let query = tx
      .selectFrom('jobs')
      .select(['id', 'owner_id'])
      .where(fair ? QUEUED_RANKED : sql<boolean>`status = 'queued'`)
      .where('kind', '=', kind)
      .where(fair ? RUN_AT : sql<number>`run_at`, '<=', now)
    if (full.length > 0) query = query.where('owner_id', 'not in', full)
    if (picked.length > 0) query = query.where('id', 'not in', picked)
    // Fair, the owners under their share come in rank order: the share caps what each runs at once, the rank
    // decides whose turn it is.
    if (fair) query = query.orderBy('fair_rank')
    query = query.orderBy('run_at').orderBy('created_at').limit(limit)
    // Rows read are locked until the claim commits; another claimer passes over them (as claimKind's do).
    const candidates = await (postgres ? query.forUpdate().skipLocked() : query).execute()
    for (const { id, owner_id } of candidates) {
      if (picked.length === want) break
      const n = owners.get(owner_id) ?? 0
      if (n >= perOwner) continue
      owners.set(owner_id, n + 1)
      picked.push(id)
    }
    // Fewer than asked for: nothing more is due for anyone under their share.
    if (candidates.length < limit) break
  }
  if (picked.length === 0) return []
  return tx
    .updateTable('jobs')
    .set((eb) => ({ status: 'running', attempts: eb('attempts', '+', 1), started_at: now }))
    .where('id', 'in', picked)
    .where('status', '=', 'queued')
    .returningAll()
    .execute()
}

/**
 * One owner's jobs of a kind queued or running, at every upload; values: owner, kind. jobs_owner leads: it reads
 * that owner's rows only (finished ones kept for the retention period among them), whoever else has a backlog.
 */
const pendingOfOwner = compiledOnce((db, value) =>
  db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('owner_id', '=', value(0))
    .where('kind', '=', value(1))
    .where('status', 'in', ['queued', 'running']),
)

const DONE_COLUMNS = ['id', 'kind', 'owner_id', 'attempts', 'finished_at', 'age_ms', 'run_ms', 'result'] as const

/**
 * A job's success: its row as jobs_done keeps it (migration 0010), and out of `jobs`. PostgreSQL in one statement
 * (a DELETE … RETURNING feeding the INSERT: one round trip, as the UPDATE it replaces); SQLite, which has no
 * writes in a WITH, in two, the row copied here, then deleteJob. values: result (stored), now, id.
 */
/**
 * The jobs_done row of a job at its success, selected from its jobs row (or the rows a DELETE returned). Typed:
 * PostgreSQL takes a bare parameter in a select list for text. values: result (stored), now.
 */
const doneRowOf = (value: (i: number) => never) =>
  [
    'id',
    'kind',
    'owner_id',
    'attempts',
    sql<number>`cast(${value(1)} as bigint)`.as('finished_at'),
    sql<number>`cast(${value(1)} as bigint) - created_at`.as('age_ms'),
    sql<number>`cast(${value(1)} as bigint) - started_at`.as('run_ms'),
    sql<string>`cast(${value(0)} as text)`.as('result'),
  ] as const

const succeedJob = compiledOnce((db, value) => {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    return db
      .with('moved', (w) =>
        w
          .deleteFrom('jobs')
          .where('id', '=', value(2))
          .returning(['id', 'kind', 'owner_id', 'attempts', 'created_at', 'started_at']),
      )
      .insertInto('jobs_done')
      .columns(DONE_COLUMNS)
      .expression((eb) => eb.selectFrom('moved').select(doneRowOf(value)))
  }
  return db
    .insertInto('jobs_done')
    .columns(DONE_COLUMNS)
    .expression((eb) => eb.selectFrom('jobs').select(doneRowOf(value)).where('id', '=', value(2)))
})
/** values: id. */
const deleteJob = compiledOnce((db, value) => db.deleteFrom('jobs').where('id', '=', value(0)))

/** values: error (JSON), when to run again, id. */
const retryJob = compiledOnce((db, value) =>
  db
    .updateTable('jobs')
    .set({ status: 'queued', last_error: value(0), run_at: value(1), stage: null, started_at: null })
    .where('id', '=', value(2)),
)

/** values: error (JSON), now, id. */
const failJob = compiledOnce((db, value) =>
  db
    .updateTable('jobs')
    .set({ status: 'failed', last_error: value(0), stage: null, finished_at: value(1) })
    .where('id', '=', value(2)),
)

/** A job's end as called off; values: error (JSON), now, id, the status it must be in (queued or running). */
const cancelJob = compiledOnce((db, value) =>
  db
    .updateTable('jobs')
    .set({ status: 'cancelled', last_error: value(0), stage: null, finished_at: value(1) })
    .where('id', '=', value(2))
    .where('status', '=', value(3))
    .returningAll(),
)

export interface DbJournalOptions {
  /** Kinds dispatched fairly between owners (src/jobs/fair-rank.ts); the others first come, first served. */
  fairKinds?: readonly string[]
  clock?: () => number
}

/**
 * The job journal in the database (SQLite by default, PostgreSQL with DATABASE_URL): the table is the queue,
 * so a job is on disk before anyone hears "accepted". One process claims from it; to spread work over several
 * machines use QUEUE=bullmq.
 */
export function createDbJournal(database: Database, options: DbJournalOptions = {}): Journal {
  const { db } = database
  const clock = options.clock ?? Date.now
  const fairKinds = new Set(options.fairKinds)
  /** Each job's rank, or null for kinds that have none. Jobs of one owner in one enqueue rank one after another. */
  const ranks = async (tx: Db, jobs: NewJob[], now: number) => {
    const out: (number | null)[] = []
    const lastOf = new Map<string, number>()
    for (const job of jobs) {
      if (!fairKinds.has(job.kind)) {
        out.push(null)
        continue
      }
      const key = `${job.kind}\u0000${job.ownerId}`
      let rank = lastOf.get(key)
      if (rank !== undefined) rank += 1
      else {
        const { rows } = await rankBounds(tx, [job.kind, now, job.kind, job.ownerId])
        const bounds = rows[0] as { front: number | null; last: number | null } | undefined
        rank = fairRank(bounds?.front ?? undefined, bounds?.last ?? undefined)
      }
      lastOf.set(key, rank)
      out.push(rank)
    }
    return out
  }
  /** Queues the jobs' rows as a write of `tx` (Transaction.write): the rows are made here, nothing is read back. */
  const insert = async (tx: Transaction, jobs: NewJob[]) => {
    if (jobs.length === 0) return []
    const now = clock()
    const rankOf = await ranks(tx.db, jobs, now)
    const rows: JobRow[] = jobs.map((job, i) => ({
      ...newJobRow(job, now),
      status: 'queued',
      attempts: 0,
      run_at: now,
      fair_rank: rankOf[i] ?? null,
      ...NOT_STARTED,
    }))
    const values = rows.flatMap((row) => [row.id, row.kind, row.owner_id, row.payload, now, row.fair_rank])
    tx.write(insertJobs(jobs.length).compile(tx.db, values))
    return rows.map(toJob)
  }
  // The dispatcher that settles jobs runs in this process, so the journal itself tells waiters and event streams.
  const feed = new ChangeFeed()
  const changed = feed.changed.bind(feed)
  const settled = feed.settled.bind(feed)

  // Runners in this process, told when jobs become due so they need not wait for their next poll.
  const enqueuedListeners = new Set<() => void>()
  const wakeRunners = () => {
    for (const listener of enqueuedListeners) listener()
  }

  // Runners in this process, told of a cancel asked of a job they run.
  const cancelListeners = new Set<(id: string, error: JobErrorInfo) => void>()

  // Which of a lane's kinds goes first at the next claim.
  let nextTurn = 0

  // Claims and outcomes go through database.record(): they commit with whatever else the turn writes (signups
  // included, in SQLite); with 2,000 mails a second, a commit each was a fifth of the event loop (README, what
  // was tried). Job bookkeeping (claims, stages, outcomes) does not wait for durable(): lost to a power cut, it
  // only means a job runs again, as after any crash. Accepting work (transact()) and an admin's requeue do.
  return {
    describe: `journal in ${database.describe}`,

    onSettled(listener) {
      feed.onSettled(listener)
    },

    onChange(listener) {
      feed.onChange(listener)
    },

    onEnqueued(listener) {
      enqueuedListeners.add(listener)
    },

    onCancelRequested(listener) {
      cancelListeners.add(listener)
    },

    async cancel(id, error, now) {
      const {
        rows: [row],
      } = await cancelJob(db, [JSON.stringify(error), now, id, 'queued'])
      if (row) {
        // Its owner is told "cancelled": on disk first, or a power cut could run it after all.
        await database.durable()
        changed(id, 'cancelled')
        settled(id)
        return toJob(row)
      }
      const job = await this.get(id)
      // The dispatcher runs in this process (the journal has one runner): it stops the attempt and records it.
      if (job?.status === 'running') for (const listener of cancelListeners) listener(id, error)
      return job
    },

    async cancelled(id, error, now) {
      await database.record((tx) => cancelJob(tx, [JSON.stringify(error), now, id, 'running']))
      changed(id, 'cancelled')
      settled(id)
    },

    async enqueue(tx, jobs) {
      // After the commit, not before: a runner woken earlier would look and find nothing yet.
      if (jobs.length === 0) return []
      const queued = await insert(tx, jobs)
      tx.afterCommit(() => {
        for (const job of queued) changed(job.id, 'queued')
        wakeRunners()
      })
      return queued
    },

    async get(id) {
      const row = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst()
      if (row) return toJob(row)
      const done = await db.selectFrom('jobs_done').selectAll().where('id', '=', id).executeTakeFirst()
      return done && doneToJob(done)
    },

    async claim(kinds, limit, now, share) {
      // Each kind in its own slice of jobs_claim_order, oldest first, so a claim reads only what it takes; the
      // kinds of a lane take turns at going first, so a long backlog of one cannot starve another.
      const first = nextTurn++
      const claimed: JobRow[] = []
      // With a share: each owner's jobs running, and those claimed here, counted against it.
      const owners = share && new Map(share.running)
      for (let i = 0; i < kinds.length && claimed.length < limit; i++) {
        const kind = kinds[(first + i) % kinds.length] as string
        const want = limit - claimed.length
        const fair = fairKinds.has(kind)
        const rows = await database.record(async (tx) =>
          share && owners
            ? claimShared(tx, kind, fair, want, now, share.perOwner, owners)
            : (await (fair ? claimFair : claimKind)(tx, [now, kind, now, want])).rows,
        )
        claimed.push(...rows)
      }
      for (const row of claimed) changed(row.id, 'running')
      return claimed
        .sort((a, b) => (a.fair_rank ?? 0) - (b.fair_rank ?? 0) || a.run_at - b.run_at || a.created_at - b.created_at)
        .map(toJob)
    },

    async setStage(id, stage) {
      await db.updateTable('jobs').set({ stage }).where('id', '=', id).where('status', '=', 'running').execute()
      changed(id, 'running', stage)
    },

    async succeed(id, result, now) {
      await database.record(async (tx) => {
        await succeedJob(tx, [storedResult(id, result), now, id])
        if (database.dialect === 'sqlite') await deleteJob(tx, [id])
      })
      changed(id, 'succeeded')
      settled(id)
    },

    async retry(id, error: JobErrorInfo, runAt) {
      await database.record((tx) => retryJob(tx, [JSON.stringify(error), runAt, id]))
      changed(id, 'queued')
    },

    async fail(id, error, now) {
      await database.record((tx) => failJob(tx, [JSON.stringify(error), now, id]))
      changed(id, 'failed')
      settled(id)
    },

    async release(id) {
      await db
        .updateTable('jobs')
        .set({
          status: 'queued',
          attempts: sql<number>`CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END`,
          stage: null,
          started_at: null,
        })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .execute()
      changed(id, 'queued')
    },

    async requeueRunning() {
      const result = await db
        .updateTable('jobs')
        .set({ status: 'queued', stage: null, started_at: null })
        .where('status', '=', 'running')
        .executeTakeFirst()
      return Number(result.numUpdatedRows)
    },

    async pendingCount(kind) {
      const row = await db
        .selectFrom('jobs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('kind', '=', kind)
        .where('status', 'in', ['queued', 'running'])
        .executeTakeFirstOrThrow()
      return Number(row.n)
    },

    async pendingCountOf(kind, ownerId) {
      const { rows } = await pendingOfOwner(db, [ownerId, kind])
      return Number(rows[0]?.n ?? 0)
    },

    async list({ status, kind, limit }) {
      let query = db.selectFrom('jobs').selectAll().where('status', '=', status)
      if (kind !== undefined) query = query.where('kind', '=', kind)
      const jobs = (await query.orderBy('created_at', 'desc').limit(limit).execute()).map(toJob)
      if (status !== 'succeeded') return jobs
      // The newest of jobs_done in its own order, ids being UUIDv7 (creation time first): a read of `limit` rows
      // where an order by created_at would sort the whole table.
      let done = db.selectFrom('jobs_done').selectAll()
      if (kind !== undefined) done = done.where('kind', '=', kind)
      const rows = await done.orderBy('id', 'desc').limit(limit).execute()
      return [...jobs, ...rows.map(doneToJob)].sort((a, b) => b.createdAt - a.createdAt).slice(0, limit)
    },

    async requeueFailed(id, now) {
      const row = await db
        .updateTable('jobs')
        .set({ status: 'queued', attempts: 0, run_at: now, finished_at: null })
        .where('id', '=', id)
        .where('status', '=', 'failed')
        .returningAll()
        .executeTakeFirst()
      // The admin is told "requeued": on disk first.
      await database.durable()
      if (row) {
        changed(row.id, 'queued')
        wakeRunners()
      }
      return row && toJob(row)
    },

    async listAll(kind, statuses) {
      if (statuses.length === 0) return []
      const rows = await db
        .selectFrom('jobs')
        .selectAll()
        .where('kind', '=', kind)
        .where('status', 'in', [...statuses])
        .execute()
      const jobs = rows.map(toJob)
      if (!statuses.includes('succeeded')) return jobs
      const done = await db.selectFrom('jobs_done').selectAll().where('kind', '=', kind).execute()
      return [...jobs, ...done.map(doneToJob)]
    },

    async deleteFinished(status, before, limit) {
      // SQLite has no DELETE … LIMIT (unless built with it): the batch is chosen by a subquery, through
      // jobs_finished, so each statement touches at most `limit` rows whatever the table holds.
      const result = await db
        .deleteFrom('jobs')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('jobs')
            .select('id')
            .where('status', '=', status)
            .where('finished_at', '<', before)
            .limit(limit),
        )
        .executeTakeFirst()
      const deleted = Number(result.numDeletedRows)
      if (status !== 'succeeded' || deleted === limit) return deleted
      // jobs_done, from its front (the oldest ids): of the first rows in id order, twice the batch read at most,
      // those finished before the cutoff. Bounded without an index of finished times, which would cost each job
      // its id again: jobs finish in about the order they were made, so the front is what finished first. A job
      // not due yet at the front is passed over; only more than a batch of them (made long before they finished,
      // retried for hours) stop the sweep early, until they are due. None is deleted before its time.
      const left = limit - deleted
      const done = await db
        .deleteFrom('jobs_done')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom((front) =>
              front
                .selectFrom('jobs_done')
                .select(['id', 'finished_at'])
                .orderBy('id')
                .limit(2 * left)
                .as('front'),
            )
            .select('front.id')
            .where('front.finished_at', '<', before)
            .limit(left),
        )
        .executeTakeFirst()
      return deleted + Number(done.numDeletedRows)
    },

    async oldestDue(now) {
      if (database.dialect === 'sqlite') {
        // The kinds with jobs queued, from the counts; then one MIN per kind, which SQLite answers from the end of
        // its slice of the claim index (status, kind, run_at): a read of a page or two, however long the backlog.
        // (A MIN with GROUP BY kind reads every queued row: 1.5 ms of event loop with 20,000 waiting.)
        const rows = await db
          .selectFrom('job_counts as c')
          .select((eb) => [
            'c.kind',
            eb
              .selectFrom('jobs as j')
              .select((e) => e.fn.min('j.run_at').as('at'))
              .where('j.status', '=', 'queued')
              .whereRef('j.kind', '=', 'c.kind')
              .where('j.run_at', '<=', now)
              .as('at'),
          ])
          .where('c.status', '=', 'queued')
          .where('c.count', '>', 0)
          .execute()
        return rows.flatMap((r) => (r.at == null ? [] : [{ kind: r.kind, dueSince: Number(r.at) }]))
      }
      // PostgreSQL answers on its own server, off the event loop.
      const rows = await db
        .selectFrom('jobs')
        .select((eb) => ['kind', eb.fn.min('run_at').as('at')])
        .where('status', '=', 'queued')
        .where('run_at', '<=', now)
        .groupBy('kind')
        .execute()
      return rows.map((r) => ({ kind: r.kind, dueSince: Number(r.at) }))
    },

    async depth() {
      if (database.dialect === 'sqlite') {
        // Kept by triggers (migration 0005): a GROUP BY over the journal here held the event loop 94 ms a
        // million rows, at every scrape and every second of an open dashboard.
        const counts = await db
          .selectFrom('job_counts')
          .select(['kind', 'status', 'count'])
          .where('count', '>', 0)
          .execute()
        return counts.map((r) => ({ kind: r.kind, status: r.status as JobStatus, count: r.count }))
      }
      const rows = await db
        .selectFrom('jobs')
        .select((eb) => ['kind', 'status', eb.fn.countAll<number>().as('count')])
        .groupBy(['kind', 'status'])
        .unionAll((eb) =>
          eb
            .selectFrom('jobs_done')
            .select((e) => ['kind', sql<JobStatus>`'succeeded'`.as('status'), e.fn.countAll<number>().as('count')])
            .groupBy('kind'),
        )
        .execute()
      // A kind's succeeded jobs may be in both tables (those that succeeded before migration 0010).
      const counts = new Map<string, { kind: string; status: JobStatus; count: number }>()
      for (const r of rows) {
        const key = `${r.kind}\u0000${r.status}`
        const count = (counts.get(key)?.count ?? 0) + Number(r.count)
        counts.set(key, { kind: r.kind, status: r.status as JobStatus, count })
      }
      return [...counts.values()]
    },

    async nextDueAt(kinds, after) {
      if (kinds.length === 0) return undefined
      let query = db
        .selectFrom('jobs')
        .select((eb) => eb.fn.min('run_at').as('at'))
        .where('status', '=', 'queued')
        .where('kind', 'in', kinds)
      if (after !== undefined) query = query.where('run_at', '>', after)
      const row = await query.executeTakeFirst()
      return row?.at == null ? undefined : Number(row.at)
    },

    // The database is closed by its owner, after every user of it.
    async close() {},
  }
}
