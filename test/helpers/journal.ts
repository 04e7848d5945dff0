import { sql } from 'kysely'
import type { Db } from '../../src/db/database.ts'
import type { JobStatus } from '../../src/jobs/types.ts'

export interface FillOptions {
  count: number
  status: JobStatus
  /** When they finished (epoch ms); null for jobs that have not. */
  finishedAt: number | null
  kind?: string
  /** Ids are `${prefix}${n}`, n from 1. */
  prefix: string
  payload?: string
  ownerId?: string
}

/**
 * Writes `count` job rows in one statement (a recursive CTE, the same text on SQLite and PostgreSQL):
 * a hundred thousand take well under a second, where inserting them one by one would take a minute.
 */
export async function fillJobs(db: Db, o: FillOptions): Promise<void> {
  const at = o.finishedAt ?? Date.now()
  await sql`
    WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ${o.count})
    INSERT INTO jobs (id, kind, owner_id, payload, status, attempts, run_at, created_at, started_at, finished_at)
    SELECT cast(${o.prefix} AS text) || cast(n AS text), cast(${o.kind ?? 'mail.welcome'} AS text),
      cast(${o.ownerId ?? 'nobody'} AS text), cast(${o.payload ?? '{}'} AS text), cast(${o.status} AS text), 1,
      cast(${at} AS bigint), cast(${at} AS bigint), cast(${at} AS bigint), cast(${o.finishedAt} AS bigint)
    FROM seq`.execute(db)
}

/** Jobs in the journal, by status: succeeded ones in `jobs` (made so) and in `jobs_done` (migration 0010). */
export async function countByStatus(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('jobs')
    .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute()
  const counts: Record<string, number> = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]))
  const done = await db
    .selectFrom('jobs_done')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow()
  if (Number(done.n) > 0) counts.succeeded = (counts.succeeded ?? 0) + Number(done.n)
  return counts
}

/** Every job in the journal, whatever its status and wherever it is kept (`jobs` or `jobs_done`). */
export async function countJobs(db: Db): Promise<number> {
  return Object.values(await countByStatus(db)).reduce((sum, n) => sum + n, 0)
}
