import path from 'node:path'
import { type Database, openDatabase } from '../../src/db/database.ts'
import { tempDataDir, watchErrorsQuietly } from './app.ts'

/** The SQLite journal in `file`, opened as deckhand opens it; the caller closes it. */
export function openJournalFile(
  file: string,
  synchronous: 'FULL' | 'NORMAL' = 'NORMAL',
  groupBudgetMs?: number,
): Promise<Database> {
  return openDatabase({
    groupBudgetMs,
    url: undefined,
    sqliteFile: file,
    synchronous,
    poolSize: 1,
    watchErrors: watchErrorsQuietly,
    timeoutMs: 2000,
  })
}

/** A fresh SQLite file in a temporary folder, opened as deckhand opens it, closed when the test ends. */
export async function openTempDatabase(
  t: Parameters<typeof tempDataDir>[0],
  synchronous: 'FULL' | 'NORMAL' = 'NORMAL',
  groupBudgetMs?: number,
): Promise<Database> {
  const database = await openJournalFile(path.join(tempDataDir(t), 'deckhand.db'), synchronous, groupBudgetMs)
  t.teardown(() => database.close())
  return database
}
