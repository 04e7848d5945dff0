import fs from 'node:fs'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import t from 'tap'
import { holdStatements } from '../../src/db/sqlite-handles.ts'
import { tempDataDir } from '../helpers/app.ts'
import { openJournalFile } from '../helpers/database.ts'

t.test('a journal that cannot be migrated fails the open and leaves nothing held: DATA_DIR opens again', async (t) => {
  const dir = tempDataDir(t)
  const file = path.join(dir, 'deckhand.db')
  // A file of something else that happens to have a `users` table: the first migration cannot create its own.
  // Held, like every better-sqlite3 database: see src/db/sqlite-handles.ts.
  const foreign = new Sqlite(file)
  holdStatements(foreign)
  foreign.exec('CREATE TABLE users (anything TEXT)')
  foreign.close()

  await t.rejects(openJournalFile(file), /users/, 'the migration error reaches the caller')
  // The failed open closed its connection and released the DATA_DIR lock: with the foreign table gone, the same
  // folder opens in this process, which a held lock would refuse.
  const fixed = new Sqlite(file)
  holdStatements(fixed)
  fixed.exec('DROP TABLE users')
  fixed.close()
  const database = await openJournalFile(file)
  t.teardown(() => database.close())
  t.ok(fs.existsSync(path.join(dir, 'deckhand.lock')))
})
