import t, { type Test } from 'tap'
import { prefilledJournal, prefillPostgres } from '../../src/bench/prefill.ts'
import type { Database } from '../../src/db/database.ts'
import { createDbJournal } from '../../src/jobs/db-journal.ts'
import { openJournalFile } from '../helpers/database.ts'
import { openScratchDatabase, scaledEnv, servicesAvailable } from '../helpers/services.ts'

/** The 21 finished mails a prefill made, read back through deckhand's own journal. */
async function readsBack(t: Test, database: Database) {
  const done = await database.db.selectFrom('jobs_done').selectAll().orderBy('id').execute()
  t.equal(done.length, 21)
  t.same(
    done.map((row) => row.id),
    [...done].sort((a, b) => a.finished_at - b.finished_at).map((row) => row.id),
    'ids in time order, as rowId() makes them',
  )
  t.match(done[0]?.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUIDv7')
  const span = (done.at(-1)?.finished_at ?? 0) - (done[0]?.finished_at ?? 0)
  t.ok(span > 5 * 24 * 3600 * 1000, 'finished over the retention window, not in one moment')
  const job = await createDbJournal(database).get(done[0]?.id as string)
  t.equal(job?.status, 'succeeded')
  t.match(
    job?.result,
    { messageId: `<${done[0]?.id}@deckhand.local>` },
    'its result reads back as the journal wrote it',
  )
  const owner = await database.db
    .selectFrom('users')
    .select('id')
    .where('id', '=', done[0]?.owner_id as string)
    .executeTakeFirst()
  t.ok(owner, 'its owner is a user')
}

t.test(
  '--prefill makes a journal deckhand opens as its own: finished mails and their users, over six days',
  async (t) => {
    const prefill = await prefilledJournal(21, () => {})
    t.teardown(() => prefill.remove())
    t.equal(prefill.users, 11, 'two mails a user')
    const database = await openJournalFile(prefill.file)
    t.teardown(() => database.close())
    await readsBack(t, database)
  },
)

t.test('--prefill on PostgreSQL (phase 9): the same journal, made by the server, read back by deckhand', async (t) => {
  if (!(await servicesAvailable(t))) return
  const env = await scaledEnv(t)
  const filled = await prefillPostgres(env.DATABASE_URL as string, 21)
  t.equal(filled.users, 11, 'two mails a user')
  t.ok(filled.databaseMiB > 0, 'the database size is reported')
  await readsBack(t, await openScratchDatabase(t, env))
})
