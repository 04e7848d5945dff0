import { sql } from 'kysely'
import { compiledOnce, compiledPerCount } from '../db/compiled.ts'
import type { Database } from '../db/database.ts'
import type { JobStatus, Journal } from './types.ts'

/**
 * One owner's jobs of a kind queued or running, at every upload; values: owner, kind. jobs_owner leads: it reads
 * that owner's rows only (finished ones kept for the retention period among them), whoever else has a backlog.
 */
const pendingOfOwner = compiledOnce((db, value) =>
  db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('owner_id', '=', value(0))
    .where('kind', '=', value(1))
    .where('status', 'in', ['queued', 'running']),
)

/**
 * The earliest run_at of the queued jobs of some kinds (values: the kinds, then `after`), after `after` when the
 * query has it. The dispatcher asks at every look of every lane; built by Kysely each time, it was 2% of the event
 * loop in phase 4 (src/bench/RESULTS.md, statements at once). Compiled once for each number of kinds.
 */
const nextDue = (after: boolean) =>
  compiledPerCount((count) => (db, value) => {
    const kinds = Array.from({ length: count }, (_, i) => value(i))
    const query = db
      .selectFrom('jobs')
      .select((eb) => eb.fn.min('run_at').as('at'))
      .where('status', '=', 'queued')
      .where('kind', 'in', kinds)
    return after ? query.where('run_at', '>', value(count)) : query
  })
const nextDueAfter = nextDue(true)
const nextDueAny = nextDue(false)

type Counts = Pick<Journal, 'pendingCount' | 'pendingCountOf' | 'oldestDue' | 'depth' | 'nextDueAt' | 'foldCounts'>

/**
 * What the journal holds, counted: pending jobs (backpressure), the oldest due and the depth of each kind (metrics),
 * and when a job is next due (the dispatcher's timer).
 */
export function journalCounts(database: Database): Counts {
  const { db } = database
  return {
    async pendingCount(kind) {
      const row = await db
        .selectFrom('jobs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('kind', '=', kind)
        .where('status', 'in', ['queued', 'running'])
        .executeTakeFirstOrThrow()
      return Number(row.n)
    },

    async pendingCountOf(kind, ownerId) {
      const { rows } = await pendingOfOwner(db, [ownerId, kind])
      return Number(rows[0]?.n ?? 0)
    },

    async oldestDue(now) {
      if (database.dialect === 'sqlite') {
        // The kinds with jobs queued, from the counts; then one MIN per kind, which SQLite answers from the end of
        // its slice of the claim index (status, kind, run_at): a read of a page or two, however long the backlog.
        // (A MIN with GROUP BY kind reads every queued row, and the event loop waits for all of them.)
        const rows = await db
          .selectFrom('job_counts as c')
          .select((eb) => [
            'c.kind',
            eb
              .selectFrom('jobs as j')
              .select((e) => e.fn.min('j.run_at').as('at'))
              .where('j.status', '=', 'queued')
              .whereRef('j.kind', '=', 'c.kind')
              .where('j.run_at', '<=', now)
              .as('at'),
          ])
          .where('c.status', '=', 'queued')
          .where('c.count', '>', 0)
          .execute()
        return rows.flatMap((r) => (r.at == null ? [] : [{ kind: r.kind, dueSince: Number(r.at) }]))
      }
      // PostgreSQL answers on its own server, off the event loop.
      const rows = await db
        .selectFrom('jobs')
        .select((eb) => ['kind', eb.fn.min('run_at').as('at')])
        .where('status', '=', 'queued')
        .where('run_at', '<=', now)
        .groupBy('kind')
        .execute()
      return rows.map((r) => ({ kind: r.kind, dueSince: Number(r.at) }))
    },

    async depth() {
      if (database.dialect === 'sqlite') {
        // Kept by triggers (migration 0005): a GROUP BY over the journal here held the event loop for as long as
        // the journal is long, at every scrape and every second of an open dashboard (src/bench/RESULTS.md).
        const counts = await db
          .selectFrom('job_counts')
          .select(['kind', 'status', 'count'])
          .where('count', '>', 0)
          .execute()
        return counts.map((r) => ({ kind: r.kind, status: r.status as JobStatus, count: r.count }))
      }
      // PostgreSQL counts `jobs` (the unfinished, and the failed for their retention), and sums jobs_done's deltas
      // (migration 0011) instead of counting a week of succeeded jobs at every read.
      const rows = await db
        .selectFrom('jobs')
        .select((eb) => ['kind', 'status', eb.fn.countAll<number>().as('count')])
        .groupBy(['kind', 'status'])
        .unionAll((eb) =>
          eb
            .selectFrom('job_done_counts')
            .select((e) => ['kind', sql<JobStatus>`'succeeded'`.as('status'), e.fn.sum<number>('n').as('count')])
            .groupBy('kind')
            .having((e) => e.fn.sum('n'), '<>', 0),
        )
        .execute()
      // A kind's succeeded jobs may be in both tables (those that succeeded before migration 0010).
      const counts = new Map<string, { kind: string; status: JobStatus; count: number }>()
      for (const r of rows) {
        const key = `${r.kind}\u0000${r.status}`
        const count = (counts.get(key)?.count ?? 0) + Number(r.count)
        counts.set(key, { kind: r.kind, status: r.status as JobStatus, count })
      }
      return [...counts.values()]
    },

    // PostgreSQL: the deltas that jobs_done's triggers append (migration 0011), one row a kind afterwards. One
    // statement: a reader sees the rows before it or the row after it, never both or neither; two folds at once
    // each fold the rows the other had not taken.
    foldCounts:
      database.dialect === 'postgres'
        ? async () => {
            const { rows } = await sql<{ folded: number }>`WITH gone AS (
                DELETE FROM job_done_counts RETURNING kind, n
              ), kept AS (
                INSERT INTO job_done_counts (kind, n)
                SELECT kind, sum(n) FROM gone GROUP BY kind HAVING sum(n) <> 0 RETURNING 1
              )
              SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept) AS folded`.execute(db)
            return Number(rows[0]?.folded ?? 0)
          }
        : undefined,

    async nextDueAt(kinds, after) {
      if (kinds.length === 0) return undefined
      const { rows } =
        after === undefined
          ? await nextDueAny(kinds.length)(db, kinds)
          : await nextDueAfter(kinds.length)(db, [...kinds, after])
      const at = rows[0]?.at
      return at == null ? undefined : Number(at)
    },
  }
}
