import path from 'node:path'
import Sqlite from 'better-sqlite3'
import t from 'tap'
import { holdStatements } from '../../src/db/sqlite-handles.ts'
import { tempDataDir } from '../helpers/app.ts'
import { openJournalFile } from '../helpers/database.ts'

/*
 * Migration 0009 lets the jobs table hold 'cancelled' on a SQLite file that already holds jobs, without rebuilding
 * the table: the CHECK's text is edited in place. The file is taken back to 0008 by hand (0001's CHECK, 0009 not
 * recorded, nor any later one: 0010 finds its table made and makes nothing, 0012 makes its index again), with jobs
 * in it, then opened as deckhand opens it.
 */
const open = (file: string) => openJournalFile(file)

t.test('a journal with jobs in it takes cancelled jobs after 0009, its rows and pages untouched', async (t) => {
  const file = path.join(tempDataDir(t), 'deckhand.db')
  await (await open(file)).close()
  const raw = new Sqlite(file)
  const statements = holdStatements(raw)
  raw.unsafeMode(true)
  const version = statements.pragma('schema_version') as number
  raw.exec(`BEGIN; PRAGMA writable_schema = ON;
    UPDATE sqlite_schema SET sql = replace(sql, ', ''cancelled'')', ')') WHERE type = 'table' AND name = 'jobs';
    PRAGMA schema_version = ${version + 1}; PRAGMA writable_schema = OFF; COMMIT;
    DELETE FROM kysely_migration WHERE name >= '0009_jobs_cancelled';`)
  const insert = statements.prepare(
    `INSERT INTO jobs (id, kind, owner_id, payload, status, attempts, run_at, created_at) VALUES (?, 'k', 'o', '{}', ?, 0, 0, 0)`,
  )
  for (let i = 0; i < 1000; i++) insert.run(`job-${i}`, 'succeeded')
  t.throws(() => insert.run('refused', 'cancelled'), /CHECK constraint failed/, 'before 0009: refused')
  const rootOfJobs = `SELECT rootpage FROM sqlite_schema WHERE name = 'jobs'`
  const rootBefore = statements.prepare(rootOfJobs).pluck().get()
  raw.close()

  const database = await open(file)
  t.teardown(() => database.close())
  const { db } = database
  await db
    .insertInto('jobs')
    .values({ id: 'now-taken', kind: 'k', owner_id: 'o', payload: '{}', status: 'cancelled', run_at: 0, created_at: 0 })
    .execute()
  const counts = await db.selectFrom('job_counts').selectAll().where('kind', '=', 'k').execute()
  t.same(
    Object.fromEntries(counts.map((c) => [c.status, c.count])),
    { succeeded: 1000, cancelled: 1 },
    'the jobs kept, and the triggers count the new status',
  )
  const check = new Sqlite(file, { readonly: true })
  t.teardown(() => check.close())
  const checked = holdStatements(check)
  t.equal(checked.prepare(rootOfJobs).pluck().get(), rootBefore, 'not rebuilt')
  t.equal(checked.pragma('integrity_check'), 'ok')
  await t.rejects(
    db
      .insertInto('jobs')
      .values({ id: 'x', kind: 'k', owner_id: 'o', payload: '{}', status: 'lost' as never, run_at: 0, created_at: 0 })
      .execute(),
    /CHECK constraint failed/,
    'any other status is still refused',
  )
})
