import type { Database } from './types.ts'

/** `database` once `migrate` has run on it; when that fails, the database is closed and the error thrown on. */
export async function migrated(database: Database, migrate: () => Promise<void>): Promise<Database> {
  try {
    await migrate()
  } catch (err) {
    await database.close()
    throw err
  }
  return database
}
