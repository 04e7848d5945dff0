import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { type Database, transact } from '../../src/db/database.ts'
import { migrateToLatest } from '../../src/db/migrations.ts'
import { createDbJournal } from '../../src/jobs/db-journal.ts'
import type { Journal } from '../../src/jobs/types.ts'
import { openTempDatabase } from '../helpers/database.ts'
import { fillJobs } from '../helpers/journal.ts'
import { openScratchDatabase, scaledEnv, servicesAvailable } from '../helpers/services.ts'

type Count = { kind: string; status: string; count: number }
const sorted = (rows: Count[]) =>
  [...rows].sort((a, b) => `${a.kind} ${a.status}`.localeCompare(`${b.kind} ${b.status}`))

/** The counts as a GROUP BY over every row says they are: `jobs`, and the succeeded jobs kept in jobs_done. */
async function counted(database: Database): Promise<Count[]> {
  const rows = await database.db
    .selectFrom('jobs')
    .select((eb) => ['kind', 'status', eb.fn.countAll<number>().as('count')])
    .groupBy(['kind', 'status'])
    .execute()
  const done = await database.db
    .selectFrom('jobs_done')
    .select((eb) => ['kind', eb.fn.countAll<number>().as('count')])
    .groupBy('kind')
    .execute()
  const counts = new Map<string, Count>()
  for (const r of [...rows, ...done.map((d) => ({ ...d, status: 'succeeded' }))]) {
    const key = `${r.kind} ${r.status}`
    counts.set(key, { kind: r.kind, status: r.status, count: (counts.get(key)?.count ?? 0) + Number(r.count) })
  }
  return sorted([...counts.values()])
}

/** The median of nine timed calls of `fn`, in ms. */
async function median(fn: () => Promise<unknown>): Promise<number> {
  const ms: number[] = []
  for (let i = 0; i < 9; i++) {
    const started = performance.now()
    await fn()
    ms.push(performance.now() - started)
  }
  return ms.sort((a, b) => a - b)[4] as number
}

/** Every change a job goes through, each followed by depth() against a full count. */
async function everyChange(t: Test, database: Database) {
  const journal: Journal = createDbJournal(database)
  const check = async (step: string) => t.same(sorted(await journal.depth()), await counted(database), step)
  const add = (kind: string, n: number) =>
    transact(database, (tx) =>
      journal.enqueue(
        tx,
        Array.from({ length: n }, (_, i) => ({ kind, ownerId: `owner-${i}`, payload: {} })),
      ),
    )
  await check('empty')
  await add('mail.welcome', 6)
  await add('avatar.process', 3)
  await check('enqueued')
  const now = Date.now()
  const claimed = await journal.claim(['mail.welcome', 'avatar.process'], 7, now)
  await check('claimed')
  const [a, b, c, d, e, f] = claimed.map((j) => j.id) as string[]
  const error = { code: 'TEST', message: 'test' }
  await journal.succeed(a as string, { ok: true }, now)
  await journal.succeed(b as string, null, now)
  await journal.fail(c as string, error, now)
  await journal.retry(d as string, error, now + 60_000)
  await journal.release(e as string)
  await journal.setStage(f as string, 'resizing')
  await check('succeeded, failed, retried, released, a stage set')
  t.equal(await journal.requeueRunning(), 2, 'two left running')
  await check('requeued after a crash')
  t.equal(await journal.deleteFinished('succeeded', now + 1, 10), 2)
  t.equal(await journal.deleteFinished('failed', now + 1, 10), 1)
  await check('swept by retention')
  return journal
}

t.test('SQLite: the counts the triggers keep match a full count after every change a job goes through', async (t) => {
  const database = await openTempDatabase(t)
  const journal = await everyChange(t, database)
  // Rows written around the journal (a bulk load, the sqlite3 shell) are counted as well: it is the database's
  // own bookkeeping.
  await fillJobs(database.db, { count: 1000, status: 'succeeded', finishedAt: Date.now(), prefix: 'bulk' })
  await sql`UPDATE jobs SET status = 'failed' WHERE id LIKE 'bulk1%'`.execute(database.db)
  await sql`DELETE FROM jobs WHERE id LIKE 'bulk2%'`.execute(database.db)
  t.same(sorted(await journal.depth()), await counted(database), 'bulk insert, update and delete')
})

t.test('PostgreSQL (QUEUE=journal): depth() counts the rows, the same answers', async (t) => {
  if (!(await servicesAvailable(t))) return
  await everyChange(t, await openScratchDatabase(t, await scaledEnv(t)))
})

t.test('a database made before the counts gets them from its rows at the migration', async (t) => {
  const database = await openTempDatabase(t)
  const { db } = database
  // As it was at 0004: no table, no triggers, 0005 (nor any later migration) not yet applied.
  await sql`DROP TABLE jobs_done`.execute(db)
  await sql`DELETE FROM kysely_migration WHERE name >= '0010_jobs_done'`.execute(db)
  // 0009 left as it is (a CHECK that admits one more status): it finds its edit made and records itself again.
  await sql`DELETE FROM kysely_migration WHERE name = '0009_jobs_cancelled'`.execute(db)
  await sql`DROP TABLE idempotency_keys`.execute(db)
  await sql`DELETE FROM kysely_migration WHERE name = '0008_idempotency_keys'`.execute(db)
  await sql`DROP INDEX jobs_fair_claim`.execute(db)
  await sql`DROP INDEX jobs_fair_owner`.execute(db)
  await sql`ALTER TABLE jobs DROP COLUMN fair_rank`.execute(db)
  await sql`DELETE FROM kysely_migration WHERE name = '0007_jobs_fair_rank'`.execute(db)
  await sql`DROP TABLE dashboard_sessions`.execute(db)
  await sql`DELETE FROM kysely_migration WHERE name = '0006_dashboard_sessions'`.execute(db)
  await sql`DROP TRIGGER job_counts_insert`.execute(db)
  await sql`DROP TRIGGER job_counts_update`.execute(db)
  await sql`DROP TRIGGER job_counts_delete`.execute(db)
  await sql`DROP TABLE job_counts`.execute(db)
  await sql`DELETE FROM kysely_migration WHERE name = '0005_job_counts'`.execute(db)
  await fillJobs(db, { count: 300, status: 'succeeded', finishedAt: Date.now(), prefix: 's' })
  await fillJobs(db, { count: 20, status: 'queued', finishedAt: null, kind: 'avatar.process', prefix: 'q' })
  await migrateToLatest(db as never)
  t.same(sorted(await createDbJournal(database).depth()), [
    { kind: 'avatar.process', status: 'queued', count: 20 },
    { kind: 'mail.welcome', status: 'succeeded', count: 300 },
  ])
  // 0007 ranks the rows already there 0, the front of their kind's fair order: a fair claim takes them.
  const fair = createDbJournal(database, { fairKinds: ['avatar.process'] })
  t.equal((await fair.claim(['avatar.process'], 50, Date.now() + 1000)).length, 20, 'queued rows claimed fairly')
})

t.test('reading the counts does not read the journal: 200,000 rows', async (t) => {
  // deckhand_jobs is collected at every scrape, and the dashboard reads it every second. It was a GROUP BY over
  // the journal, on the event loop: 13 ms with 200,000 rows, 94 ms with a million (a week of retention holds
  // more). A ratio in one run, not a time: the full count is what depth() cost before.
  const database = await openTempDatabase(t)
  await fillJobs(database.db, { count: 190_000, status: 'succeeded', finishedAt: Date.now(), prefix: 's' })
  await fillJobs(database.db, { count: 10_000, status: 'queued', finishedAt: null, prefix: 'q' })
  const journal = createDbJournal(database)
  const depth = await median(() => journal.depth())
  const oldest = await median(() => journal.oldestDue(Date.now()))
  const full = await median(() => counted(database))
  t.ok(depth < full / 10, `depth() ${depth.toFixed(2)} ms against a full count's ${full.toFixed(2)} ms`)
  t.ok(oldest < full / 10, `oldestDue() ${oldest.toFixed(2)} ms against a full count's ${full.toFixed(2)} ms`)
  t.equal(
    (await journal.depth()).reduce((n, r) => n + r.count, 0),
    200_000,
  )
  t.same(
    (await journal.oldestDue(Date.now())).map((r) => r.kind),
    ['mail.welcome'],
  )
})

t.test(
  'oldestDue: the oldest job due of each kind; jobs not yet due and kinds with none queued are left out',
  async (t) => {
    const database = await openTempDatabase(t)
    const journal = createDbJournal(database)
    const now = Date.now()
    const add = async (kind: string, runAt: number) => {
      const [job] = await transact(database, (tx) => journal.enqueue(tx, [{ kind, ownerId: 'o', payload: {} }]))
      await database.db
        .updateTable('jobs')
        .set({ run_at: runAt })
        .where('id', '=', job?.id as string)
        .execute()
    }
    await add('mail.welcome', now - 5000)
    await add('mail.welcome', now - 9000)
    await add('mail.welcome', now - 1000)
    await add('avatar.process', now + 60_000)
    await fillJobs(database.db, {
      count: 3,
      status: 'succeeded',
      finishedAt: now,
      kind: 'mail.admin-notice',
      prefix: 'd',
    })
    t.same(await journal.oldestDue(now), [{ kind: 'mail.welcome', dueSince: now - 9000 }])
  },
)

t.test('PostgreSQL: reading the counts does not count jobs_done; its deltas fold into one row a kind', async (t) => {
  if (!(await servicesAvailable(t))) return
  const database = await openScratchDatabase(t, await scaledEnv(t))
  const { db } = database
  const journal = createDbJournal(database)
  // A week of retention's succeeded jobs, as the bench's --prefill makes them: 200,000 rows in one statement.
  await sql`INSERT INTO jobs_done (id, kind, owner_id, attempts, finished_at, age_ms, run_ms, result)
    SELECT 'd' || lpad(i::text, 7, '0'), CASE WHEN i % 2 = 0 THEN 'mail.welcome' ELSE 'mail.admin-notice' END, 'o', 1, i, 1, 1, NULL
    FROM generate_series(1, 200000) AS i`.execute(db)
  // And then as they come, a statement each.
  for (let i = 0; i < 50; i++) {
    await sql`INSERT INTO jobs_done (id, kind, owner_id, attempts, finished_at, age_ms, run_ms, result)
      VALUES (${`e${i}`}, 'mail.welcome', 'o', 1, 0, 1, 1, NULL)`.execute(db)
  }
  t.equal(await journal.deleteFinished('succeeded', 1001, 500), 500, 'retention deletes 500')
  const expected = await counted(database)
  t.same(sorted(await journal.depth()), expected, 'the sums of the deltas are the counts')
  t.equal(
    await journal.foldCounts?.(),
    54 - 2,
    'the 54 deltas (the bulk, 50 single rows, the deletion) fold into one a kind',
  )
  t.same(sorted(await journal.depth()), expected, 'the same counts after the fold')
  const deltas = await db.selectFrom('job_done_counts').select(['kind', 'n']).orderBy('kind').execute()
  t.same(
    deltas.map((d) => [d.kind, Number(d.n)]),
    [
      ['mail.admin-notice', 99_750],
      ['mail.welcome', 99_800],
    ],
  )
  // A ratio in one run, not a time: the full count is what depth() cost on PostgreSQL before 0011.
  const depth = await median(() => journal.depth())
  const full = await median(() => counted(database))
  t.ok(depth < full / 5, `depth() ${depth.toFixed(2)} ms against a full count's ${full.toFixed(2)} ms`)
})
