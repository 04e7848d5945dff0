import fs from 'node:fs'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import t from 'tap'
import { WAL_SIZE_LIMIT_BYTES } from '../../src/db/database.ts'
import { holdStatements } from '../../src/db/sqlite-handles.ts'
import { tempDataDir } from '../helpers/app.ts'
import { openJournalFile } from '../helpers/database.ts'
import { fillJobs } from '../helpers/journal.ts'

t.test('a WAL that a held-back checkpoint let grow is truncated back once the checkpoint can finish', async (t) => {
  const file = path.join(tempDataDir(t), 'deckhand.db')
  const database = await openJournalFile(file)
  t.teardown(() => database.close())
  const walBytes = () => fs.statSync(`${file}-wal`).size

  // A reader of an old snapshot (a backup, the sqlite3 shell): no checkpoint can restart the WAL meanwhile.
  const reader = new Sqlite(file, { readonly: true })
  const statements = holdStatements(reader)
  statements.prepare('BEGIN').run()
  statements.prepare('SELECT count(*) FROM jobs').get()
  for (let batch = 0; batch < 8; batch++) {
    await fillJobs(database.db, {
      count: 1000,
      status: 'succeeded',
      finishedAt: 1,
      prefix: `b${batch}-`,
      payload: 'x'.repeat(3000),
    })
  }
  const grown = walBytes()
  t.ok(grown > 2 * WAL_SIZE_LIMIT_BYTES, `the WAL grew to ${(grown / 2 ** 20).toFixed(1)} MiB behind the reader`)

  statements.prepare('COMMIT').run()
  reader.close()
  // The next commits checkpoint it whole, and the one after restarts it from the top.
  for (let batch = 0; batch < 4; batch++) {
    await fillJobs(database.db, { count: 100, status: 'succeeded', finishedAt: 1, prefix: `after${batch}-` })
  }
  const after = walBytes()
  t.ok(
    after <= WAL_SIZE_LIMIT_BYTES,
    `and went back to ${(after / 2 ** 20).toFixed(1)} MiB (journal_size_limit ${WAL_SIZE_LIMIT_BYTES / 2 ** 20} MiB)`,
  )
})
