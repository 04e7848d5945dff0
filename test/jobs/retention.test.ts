import fs from 'node:fs'
import path from 'node:path'
import { sql } from 'kysely'
import t from 'tap'
import type { Db } from '../../src/db/database.ts'
import { finishedBatch } from '../../src/jobs/journal-retention.ts'
import type { FinishedStatus } from '../../src/jobs/types.ts'
import { getJob, signup, startApp, waitForJob } from '../helpers/app.ts'
import { openTempDatabase } from '../helpers/database.ts'
import { EVENT_LOOP_P99_LIMIT_MS, watchEventLoop } from '../helpers/event-loop.ts'
import { countByStatus, fillJobs } from '../helpers/journal.ts'
import { openScratchDatabase, scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { waitFor } from '../helpers/wait.ts'

const HOUR = 3_600_000
const retainHour = { JOB_RETENTION_MS: String(HOUR), FAILED_JOB_RETENTION_MS: String(HOUR) }

/** Records every batch the sweep asks the journal to delete. */
function spyOnBatches(queue: {
  deleteFinished(status: FinishedStatus, before: number, limit: number): Promise<number>
}) {
  const batches: { status: FinishedStatus; limit: number; deleted: number }[] = []
  const original = queue.deleteFinished.bind(queue)
  queue.deleteFinished = async (status, before, limit) => {
    const deleted = await original(status, before, limit)
    batches.push({ status, limit, deleted })
    return deleted
  }
  return batches
}

t.test('100,000 finished jobs are swept in batches; the event loop stays responsive and claims go on', async (t) => {
  const app = await startApp(t, retainHour)
  const { db } = app.database
  const old = Date.now() - 2 * HOUR
  await fillJobs(db, { count: 90_000, status: 'succeeded', finishedAt: old, prefix: 's' })
  await fillJobs(db, { count: 10_000, status: 'failed', finishedAt: old, prefix: 'f' })
  await fillJobs(db, { count: 1000, status: 'succeeded', finishedAt: Date.now(), prefix: 'young' })
  const file = path.join(app.config.dataDir, 'deckhand.db')
  const fileSize = async () => {
    await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db)
    return fs.statSync(file).size
  }
  const sizeBefore = await fileSize()
  const batches = spyOnBatches(app.queue)
  // The first signup and its mails compile routes, schemas and the mail transport (~100 ms on the event loop):
  // not the sweep's to answer for.
  await signup(app, 'warm-up@example.com')
  await waitFor('the warm-up mails', async () => (await countByStatus(db)).succeeded === 90_000 + 1000 + 2)

  const stopWatching = watchEventLoop()
  const started = Date.now()
  let sweptAt = 0
  const sweep = app.sweeper.sweep().then(() => {
    sweptAt = Date.now()
  })
  // A signup during the sweep: answered, and its mail claimed and sent while rows are still being deleted.
  const ann = await signup(app, 'ann@example.com')
  const welcome = ann.jobs.find((j) => j.kind === 'mail.welcome')?.id as string
  const sent = await waitFor('the welcome mail to be sent', async () => {
    const job = await app.queue.get(welcome)
    return job?.status === 'succeeded' && job
  })
  await sweep
  const delay = stopWatching()
  const sweepMs = sweptAt - started

  t.ok(sent.finishedAt !== null && sent.finishedAt < sweptAt, 'the mail was claimed and sent before the sweep ended')
  await waitFor('every mail sent', async () => !(await countByStatus(db)).queued)
  t.same(await countByStatus(db), { succeeded: 1000 + 4 }, 'only the young jobs and the new mails are left')
  t.ok(batches.length >= 100, `${batches.length} batches`)
  t.ok(
    batches.every((b) => b.limit === 500 && b.deleted <= 500),
    'no statement deletes more than 500 rows',
  )
  t.ok(delay.p99Running < EVENT_LOOP_P99_LIMIT_MS, delay.text)
  const sizeAfter = await fileSize()
  t.ok(sizeAfter < sizeBefore / 2, 'the freed pages went back to the file system (incremental auto-vacuum)')
  t.comment(
    `swept 100,000 rows in ${sweepMs} ms; ${delay.text}; ` +
      `database file ${(sizeBefore / 1048576).toFixed(1)} MiB before, ${(sizeAfter / 1048576).toFixed(1)} MiB after`,
  )

  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, /deckhand_jobs_swept_total\{status="succeeded"\} 90000/)
  t.match(metrics, /deckhand_jobs_swept_total\{status="failed"\} 10000/)
})

t.test('shutdown does not wait for a long sweep: it stops at the next batch', async (t) => {
  const app = await startApp(t, retainHour)
  const { db } = app.database
  await fillJobs(db, { count: 100_000, status: 'succeeded', finishedAt: Date.now() - 2 * HOUR, prefix: 's' })
  const batches = spyOnBatches(app.queue)
  const sweep = app.sweeper.sweep()
  await waitFor('the first batch', () => batches.length > 0, 10_000, 1)
  const asked = Date.now()
  await app.sweeper.stop()
  const stopMs = Date.now() - asked
  await sweep
  t.ok(stopMs < 500, `stopped within ${stopMs} ms`)
  const left = (await countByStatus(db)).succeeded ?? 0
  t.ok(left > 50_000, `the rest (${left}) waits for the next sweep`)
})

t.test('a swept job answers 404 JOB_NOT_FOUND', async (t) => {
  const app = await startApp(t, retainHour)
  const ann = await signup(app, 'ann@example.com')
  const welcome = ann.jobs.find((j) => j.kind === 'mail.welcome')?.id as string
  t.equal((await waitForJob(app, ann, welcome)).status, 'succeeded')
  await app.sweeper.sweep()
  t.equal((await getJob(app, ann, welcome)).status, 'succeeded', 'younger than JOB_RETENTION_MS: kept')

  // A succeeded job is kept in jobs_done (migration 0010).
  await app.database.db
    .updateTable('jobs_done')
    .set({ finished_at: Date.now() - 2 * HOUR })
    .where('id', '=', welcome)
    .execute()
  await app.sweeper.sweep()
  const res = await app.inject({ url: `/jobs/${welcome}`, headers: { authorization: `Bearer ${ann.token}` } })
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'JOB_NOT_FOUND')
})

/** Old and young jobs of every status, for the tests of one setting at a time. */
async function fillEveryStatus(app: Awaited<ReturnType<typeof startApp>>) {
  const { db } = app.database
  const old = Date.now() - 2 * HOUR
  await fillJobs(db, { count: 30, status: 'succeeded', finishedAt: old, prefix: 'old-s' })
  await fillJobs(db, { count: 20, status: 'failed', finishedAt: old, prefix: 'old-f' })
  await fillJobs(db, { count: 3, status: 'succeeded', finishedAt: Date.now(), prefix: 'young-s' })
  await fillJobs(db, { count: 2, status: 'failed', finishedAt: Date.now(), prefix: 'young-f' })
  // Cancelled jobs are kept as long as failed ones (FAILED_JOB_RETENTION_MS).
  await fillJobs(db, { count: 10, status: 'cancelled', finishedAt: old, prefix: 'old-c' })
  await fillJobs(db, { count: 1, status: 'cancelled', finishedAt: Date.now(), prefix: 'young-c' })
  // Not finished, however old: never swept. (Another kind, so the dispatcher leaves them alone.)
  await fillJobs(db, { count: 5, status: 'queued', finishedAt: null, prefix: 'q', kind: 'test.none' })
  return db
}

t.test('JOB_RETENTION_MS alone deletes only old succeeded jobs', async (t) => {
  const app = await startApp(t, { JOB_RETENTION_MS: String(HOUR), FAILED_JOB_RETENTION_MS: '0' })
  const db = await fillEveryStatus(app)
  await app.sweeper.sweep()
  t.same(await countByStatus(db), { succeeded: 3, failed: 22, cancelled: 11, queued: 5 })
})

t.test('FAILED_JOB_RETENTION_MS alone deletes only old failed jobs', async (t) => {
  const app = await startApp(t, { JOB_RETENTION_MS: '0', FAILED_JOB_RETENTION_MS: String(HOUR) })
  const db = await fillEveryStatus(app)
  await app.sweeper.sweep()
  t.same(await countByStatus(db), { succeeded: 33, failed: 2, cancelled: 1, queued: 5 })
})

t.test('the sweep runs by itself every RETENTION_SWEEP_MS', async (t) => {
  const app = await startApp(t, { ...retainHour, RETENTION_SWEEP_MS: '1000' })
  const db = await fillEveryStatus(app)
  await waitFor('a sweep on the timer', async () => (await countByStatus(db)).succeeded === 3, 5000, 50)
  t.same(await countByStatus(db), { succeeded: 3, failed: 2, cancelled: 1, queued: 5 })
})

t.test('the same query text sweeps PostgreSQL in batches', async (t) => {
  if (!(await servicesAvailable(t))) return
  // Only its scratch PostgreSQL database: the journal (QUEUE=journal) in PostgreSQL.
  const { DATABASE_URL } = await scaledEnv(t)
  const app = await startApp(t, { ...retainHour, DATABASE_URL: DATABASE_URL as string })
  const db = await fillEveryStatus(app)
  await fillJobs(db, { count: 2500, status: 'succeeded', finishedAt: Date.now() - 2 * HOUR, prefix: 'many' })
  const batches = spyOnBatches(app.queue)
  await app.sweeper.sweep()
  t.same(await countByStatus(db), { succeeded: 3, failed: 2, cancelled: 1, queued: 5 })
  t.same(
    batches.map((b) => b.deleted),
    [500, 500, 500, 500, 500, 30, 20, 10],
    'succeeded in six batches, then failed, then cancelled',
  )
})

/** The sweep's batch of a status, as journalDeleteFinished chooses it. */
const sweepBatch = (db: Db, status: FinishedStatus) => finishedBatch(db, status, Date.now(), 500)

t.test('jobs_finished holds finished jobs only, and the sweep reads through it (SQLite)', async (t) => {
  const { db } = await openTempDatabase(t)
  await fillJobs(db, { count: 200, status: 'queued', finishedAt: null, prefix: 'q' })
  await fillJobs(db, { count: 100, status: 'running', finishedAt: null, prefix: 'r' })
  await fillJobs(db, { count: 3, status: 'failed', finishedAt: Date.now() - HOUR, prefix: 'f' })
  await fillJobs(db, { count: 2, status: 'cancelled', finishedAt: Date.now() - HOUR, prefix: 'c' })
  // Every queued or running job in it had cost each insert, claim and end a write of the index for nothing.
  const { rows } = await sql<{ n: number }>`
    SELECT sum(ncell) AS n FROM dbstat WHERE name = 'jobs_finished' AND pagetype = 'leaf'`.execute(db)
  t.equal(rows[0]?.n, 5, 'the five finished jobs, none of the 300 queued or running')
  const batch = sweepBatch(db, 'failed').compile()
  const plan = await db.executeQuery<{ detail: string }>({ ...batch, sql: `EXPLAIN QUERY PLAN ${batch.sql}` })
  t.match(
    plan.rows.map((r) => r.detail).join('\n'),
    /USING (COVERING )?INDEX jobs_finished/,
    'the batch is read through jobs_finished',
  )
})

t.test('the sweep reads through jobs_finished on PostgreSQL too', async (t) => {
  if (!(await servicesAvailable(t))) return
  const database = await openScratchDatabase(t, await scaledEnv(t))
  const { db } = database
  await fillJobs(db, { count: 2000, status: 'queued', finishedAt: null, prefix: 'q' })
  await fillJobs(db, { count: 3, status: 'failed', finishedAt: Date.now() - HOUR, prefix: 'f' })
  await sql`ANALYZE jobs`.execute(db)
  const batch = sweepBatch(db, 'failed').compile()
  const plan = await db.connection().execute(async (conn) => {
    // Whether the index can serve the query at all: PostgreSQL must see that `finished_at < $2` implies the
    // index's `finished_at IS NOT NULL`; a plan that may not scan the table says so.
    await sql`SET enable_seqscan = off`.execute(conn)
    return conn.executeQuery<{ 'QUERY PLAN': string }>({ ...batch, sql: `EXPLAIN ${batch.sql}` })
  })
  t.match(plan.rows.map((r) => r['QUERY PLAN']).join('\n'), /jobs_finished/, 'the batch is read through jobs_finished')
})
