import fs from 'node:fs'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import { sql } from 'kysely'
import t from 'tap'
import { openDatabase, WAL_SIZE_LIMIT_BYTES } from '../../src/db/database.ts'
import { holdStatements } from '../../src/db/sqlite-handles.ts'
import { tempDataDir, watchErrorsQuietly } from '../helpers/app.ts'
import { fillJobs } from '../helpers/journal.ts'
import { waitFor } from '../helpers/wait.ts'

t.test('a WAL that a held-back checkpoint let grow is truncated back once the checkpoint can finish', async (t) => {
  const file = path.join(tempDataDir(t), 'deckhand.db')
  const database = await openDatabase({
    url: undefined,
    sqliteFile: file,
    synchronous: 'NORMAL',
    poolSize: 1,
    watchErrors: watchErrorsQuietly,
    timeoutMs: 2000,
  })
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
  // The checkpoint thread copies it whole within its interval, and the commit after that restarts it from the top.
  let round = 0
  const after = await waitFor('the WAL to be truncated', async () => {
    await fillJobs(database.db, { count: 100, status: 'succeeded', finishedAt: 1, prefix: `after${round++}-` })
    await new Promise((resolve) => setTimeout(resolve, 50))
    return walBytes() <= WAL_SIZE_LIMIT_BYTES && walBytes() + 1
  })
  t.ok(
    after - 1 <= WAL_SIZE_LIMIT_BYTES,
    `and went back to ${((after - 1) / 2 ** 20).toFixed(1)} MiB (journal_size_limit ${WAL_SIZE_LIMIT_BYTES / 2 ** 20} MiB)`,
  )
})

t.test("checkpoints run on their own thread: the connection's own are off, and the WAL stays bounded", async (t) => {
  const file = path.join(tempDataDir(t), 'deckhand.db')
  const database = await openDatabase({
    url: undefined,
    sqliteFile: file,
    synchronous: 'NORMAL',
    poolSize: 1,
    watchErrors: watchErrorsQuietly,
    timeoutMs: 2000,
  })
  t.teardown(() => database.close())
  const auto = await sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`.execute(database.db)
  t.same(auto.rows, [{ wal_autocheckpoint: 0 }], 'no commit checkpoints on the event loop')
  // With the connection's checkpoints off, only the thread keeps the WAL from growing without end.
  const probe = new Sqlite(file)
  t.teardown(() => probe.close())
  // 40 MiB written in bursts, with time between them for the thread's checkpoints.
  for (let batch = 0; batch < 16; batch++) {
    await fillJobs(database.db, {
      count: 800,
      status: 'succeeded',
      finishedAt: 1,
      prefix: `c${batch}-`,
      payload: 'x'.repeat(3000),
    })
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
  const wal = fs.statSync(`${file}-wal`).size
  t.ok(
    wal <= 2 * WAL_SIZE_LIMIT_BYTES,
    `the WAL stayed at ${(wal / 2 ** 20).toFixed(1)} MiB while 40 MiB went through it`,
  )
  const [state] = probe.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[]
  t.ok(state && state.log - state.checkpointed < 2000, 'and what it holds is (nearly) all in the database file already')
})
