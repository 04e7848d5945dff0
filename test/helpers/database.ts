import path from 'node:path'
import { type Database, openDatabase } from '../../src/db/database.ts'
import { tempDataDir, watchErrorsQuietly } from './app.ts'

/** A fresh SQLite file in a temporary folder, opened as deckhand opens it, closed when the test ends. */
export async function openTempDatabase(
  t: Parameters<typeof tempDataDir>[0],
  synchronous: 'FULL' | 'NORMAL' = 'NORMAL',
): Promise<Database> {
  const database = await openDatabase({
    url: undefined,
    sqliteFile: path.join(tempDataDir(t), 'deckhand.db'),
    synchronous,
    poolSize: 1,
    watchErrors: watchErrorsQuietly,
    timeoutMs: 2000,
  })
  t.teardown(() => database.close())
  return database
}
