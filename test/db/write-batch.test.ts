import t from 'tap'
import { WriteBatch } from '../../src/db/write-batch.ts'
import { openTempDatabase } from '../helpers/database.ts'
import { countByStatus, fillJobs } from '../helpers/journal.ts'

async function journalWithJobs(t: Parameters<typeof openTempDatabase>[0]) {
  const database = await openTempDatabase(t)
  await fillJobs(database.db, { count: 3, status: 'running', finishedAt: null, prefix: 'j' })
  return database.db
}

const finish = (id: string) => (tx: Parameters<Parameters<WriteBatch['add']>[0]>[0]) =>
  tx.updateTable('jobs').set({ status: 'succeeded', finished_at: Date.now() }).where('id', '=', id).execute()

t.test('writes made in one turn commit together: all of them, or (if one fails) none', async (t) => {
  const db = await journalWithJobs(t)
  const batch = new WriteBatch(db)
  await Promise.all([batch.add(finish('j1')), batch.add(finish('j2'))])
  t.same(await countByStatus(db), { running: 1, succeeded: 2 }, 'both written, each caller told')

  const results = await Promise.allSettled([
    batch.add(finish('j3')),
    batch.add((tx) =>
      tx
        .insertInto('jobs')
        .values({ id: 'j1' } as never)
        .execute(),
    ),
  ])
  t.same(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
    'a failed write fails every write of its batch, and each caller hears of it',
  )
  t.same(await countByStatus(db), { running: 1, succeeded: 2 }, 'j3 rolled back with its batch: one transaction')

  await batch.add(finish('j3'))
  t.same(await countByStatus(db), { succeeded: 3 }, 'a later batch is a transaction of its own')
})
