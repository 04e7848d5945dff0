import { type Kysely, sql } from 'kysely'
import t, { type Test } from 'tap'
import { fillFinishedMail, journalSize } from '../../src/bench/journal-size.ts'
import { type Database, transact } from '../../src/db/database.ts'
import { migrateToLatest } from '../../src/db/migrations.ts'
import { createDbJournal } from '../../src/jobs/db-journal.ts'
import { toJob } from '../../src/jobs/job-rows.ts'
import { adminJobView } from '../../src/jobs/job-view.ts'
import type { Job, Journal } from '../../src/jobs/types.ts'
import { getJob, signup, startApp, waitForJob } from '../helpers/app.ts'
import { openTempDatabase } from '../helpers/database.ts'
import { countByStatus } from '../helpers/journal.ts'
import { openScratchDatabase, scaledEnv, servicesAvailable } from '../helpers/services.ts'

/*
 * Succeeded jobs are kept in jobs_done (migration 0010): no payload, in no index of `jobs`, their result with the
 * job's id written once. A week of retention at 100 signups/s is about 120 million of them.
 */

t.test(
  'SQLite: a succeeded mail job costs at most 200 bytes in the journal, tables and indexes (dbstat)',
  async (t) => {
    // 441 bytes a job in the first reading (issue 28), 548 in this fill: every row kept its payload and sat in
    // jobs_claim_order, jobs_owner and jobs_finished, its id in the primary key's index as well as in the row.
    const database = await openTempDatabase(t)
    await fillFinishedMail(database, 5000)
    const size = await journalSize(database)
    t.equal(size.jobs, 10_000)
    const perJob = size.total / size.jobs
    t.ok(perJob <= 200, `${perJob.toFixed(1)} bytes a job: ${JSON.stringify(size.bytes)}`)
  },
)

t.test('GET /jobs/:id of a succeeded mail job answers as before: its result, times and attempts', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  for (const { id, kind } of ann.jobs) {
    const job = await waitForJob(app, ann, id)
    t.equal(job.status, 'succeeded', kind)
    t.same(Object.keys(job).sort(), [
      'attempts',
      'createdAt',
      'finishedAt',
      'id',
      'kind',
      'result',
      'startedAt',
      'status',
    ])
    t.same(
      job.result,
      kind === 'mail.welcome'
        ? { messageId: `<${id}@deckhand.local>`, to: 'ann@example.com' }
        : { messageId: `<${id}@deckhand.local>` },
    )
    t.equal(job.attempts, 1)
    t.ok(job.createdAt <= job.startedAt && job.startedAt <= job.finishedAt, 'times in order')
    t.same(await getJob(app, ann, id), job, 'read again')
  }
  const { db } = app.database
  t.same(await countByStatus(db), { succeeded: 2 })
  const done = await db.selectFrom('jobs_done').select(['id', 'result']).execute()
  t.equal(done.length, 2, 'both kept in jobs_done')
  t.ok(
    done.every((row) => !row.result?.includes(row.id)),
    "the id is not stored twice: the result's Message-ID quotes it",
  )
})

/**
 * Takes `database` back to before 0010: no jobs_done (nor 0011's counts of it), 0010 and every later migration not
 * recorded.
 */
async function before0010(database: Database) {
  await sql`DROP TABLE jobs_done`.execute(database.db)
  if (database.dialect === 'postgres') {
    await sql`DROP TABLE job_done_counts`.execute(database.db)
    await sql`DROP FUNCTION job_done_counts_added, job_done_counts_removed`.execute(database.db)
  }
  await sql`DELETE FROM kysely_migration WHERE name >= '0010_jobs_done'`.execute(database.db)
}

/**
 * Jobs of every status as a journal before 0010 left them: claimed, then finished in place (the UPDATE its
 * succeed() ran), each with a result that quotes its own id, as a mail's does.
 */
async function journalBefore0010(database: Database, journal: Journal) {
  const queued = await transact(database, (tx) =>
    journal.enqueue(
      tx,
      Array.from({ length: 8 }, (_, i) => ({ kind: 'mail.welcome', ownerId: `owner-${i}`, payload: { n: i } })),
    ),
  )
  const claimed = await journal.claim(['mail.welcome'], 6, Date.now())
  const now = Date.now()
  const [a, b, c] = claimed
  const d = queued[7]
  for (const job of [a, b] as Job[]) {
    await database.db
      .updateTable('jobs')
      .set({
        status: 'succeeded',
        result: JSON.stringify({ messageId: `<${job.id}@deckhand.local>` }),
        finished_at: now,
      })
      .where('id', '=', job.id)
      .execute()
  }
  await journal.fail((c as Job).id, { code: 'SMTP_REJECTED', message: 'refused' }, now)
  await journal.cancel((d as Job).id, { code: 'CANCELLED', message: 'called off' }, now)
  const ids = (await database.db.selectFrom('jobs').select('id').execute()).map((r) => r.id)
  return { ids, claimed }
}

async function migratesInPlace(t: Test, database: Database) {
  await before0010(database)
  const journal = createDbJournal(database)
  const { ids, claimed } = await journalBefore0010(database, journal)
  // Before 0010 the journal read a job from `jobs` alone, with the same mapping.
  const rows = await database.db.selectFrom('jobs').selectAll().execute()
  const before = new Map(rows.map((row) => [row.id, adminJobView(toJob(row))]))
  const counted: Record<string, number> = {}
  for (const row of rows) counted[row.status] = (counted[row.status] ?? 0) + 1
  await migrateToLatest(database.db as Kysely<unknown>)
  for (const id of ids) t.same(adminJobView((await journal.get(id)) as Job), before.get(id), `${id} answers as before`)
  t.same(await countByStatus(database.db), counted, 'every job kept')

  // After it: a success goes to jobs_done, and answers as the ones finished before it do.
  const e = claimed[4] as Job
  await journal.succeed(e.id, { messageId: `<${e.id}@deckhand.local>` }, Date.now())
  const moved = adminJobView((await journal.get(e.id)) as Job)
  const old = adminJobView((await journal.get((claimed[0] as Job).id)) as Job)
  t.same(moved.result, { messageId: `<${e.id}@deckhand.local>` })
  t.same(Object.keys(moved).sort(), Object.keys(old).sort(), 'the same fields')
  t.match(moved, { kind: old.kind, status: 'succeeded', attempts: old.attempts, ownerId: e.ownerId })
  const left = await database.db.selectFrom('jobs').select('id').where('id', '=', e.id).execute()
  t.same(left, [], 'and left `jobs`')
  t.same(
    (await journal.list({ status: 'succeeded', limit: 10 })).map((j) => j.id).sort(),
    [(claimed[0] as Job).id, (claimed[1] as Job).id, e.id].sort(),
    'listed from both tables',
  )
  t.same(
    (await journal.depth()).filter((d) => d.status === 'succeeded'),
    [{ kind: 'mail.welcome', status: 'succeeded', count: 3 }],
  )
  // Retention deletes from both tables.
  t.equal(await journal.deleteFinished('succeeded', Date.now() + 1000, 500), 3)
  t.equal(await journal.get(e.id), undefined)
}

t.test('SQLite: a journal made before 0010 migrates in place; every job and its answer kept', async (t) => {
  await migratesInPlace(t, await openTempDatabase(t))
})

t.test('PostgreSQL (QUEUE=journal): the same migration, the same answers', async (t) => {
  if (!(await servicesAvailable(t))) return
  await migratesInPlace(t, await openScratchDatabase(t, await scaledEnv(t)))
})

t.test('retention deletes jobs_done from its front, a bounded read a batch, none before its time', async (t) => {
  const database = await openTempDatabase(t)
  let now = 1_000_000
  const journal = createDbJournal(database, { clock: () => now })
  const jobs = await transact(database, (tx) =>
    journal.enqueue(
      tx,
      Array.from({ length: 30 }, () => ({ kind: 'mail.welcome', ownerId: 'o', payload: {} })),
    ),
  )
  const claimed = await journal.claim(['mail.welcome'], 30, now)
  t.equal(claimed.length, 30)
  // The first job made finishes last: passed over until it is due, the ones behind it deleted meanwhile.
  for (const job of jobs.slice(1)) {
    now += 10
    await journal.succeed(job.id, null, now)
  }
  now += 10_000
  await journal.succeed((jobs[0] as Job).id, null, now)
  const sweep = async (before: number) => {
    const batches: number[] = []
    for (let deleted = 5; deleted === 5; ) {
      deleted = await journal.deleteFinished('succeeded', before, 5)
      batches.push(deleted)
    }
    return batches
  }
  t.same(await sweep(now - 5000), [5, 5, 5, 5, 5, 4], 'every job due, a batch at a time')
  t.ok(await journal.get((jobs[0] as Job).id), 'the first, not due yet, kept')
  t.same(await sweep(now + 1), [1], 'then it')
  t.equal(await database.db.selectFrom('jobs_done').select('id').executeTakeFirst(), undefined)
})
