// Run as a process of its own by sqlite-handles.test.ts: uses the database the way deckhand does (more query
// texts than a statement cache would keep, pragmas, a reclaim) and the way the bench's --prefill makes a journal,
// then makes garbage until the collector has run many times, and exits 0 if the process survived all of it.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import { prefilledJournal } from '../../src/bench/prefill.ts'
import { openDatabase } from '../../src/db/database.ts'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-gc-'))
try {
  const options = {
    url: undefined,
    sqliteFile: path.join(dir, 'deckhand.db'),
    synchronous: 'NORMAL' as const,
    poolSize: 1,
    watchErrors: () => {},
    timeoutMs: 2000,
  }
  const database = await openDatabase(options)
  // The bench's prefilled journal: a file of its own, written with better-sqlite3 beside deckhand's migrations.
  ;(await prefilledJournal(40, () => {})).remove()
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 300; i++) await sql`SELECT ${sql.lit(i)} AS n`.execute(database.db)
    await database.reclaimSpace(() => false)
    await database.ping()
    // A second open of the same directory is refused by the data-directory lock: its handles must be held too.
    await openDatabase(options).then(
      () => Promise.reject(new Error('a second open of one DATA_DIR was not refused')),
      (err: Error) => {
        if (err.name !== 'StartupError') throw err
      },
    )
    // Garbage, and a turn of the event loop, so that collections run from timers as in a live process.
    Array.from({ length: 200_000 }, (_, i) => ({ i }))
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  await database.close()
  console.log('survived')
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
