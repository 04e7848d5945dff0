import { PostgresAdapter, type SelectQueryBuilder } from 'kysely'
import { compiledOnce } from '../db/compiled.ts'
import type { Database, Db } from '../db/database.ts'
import type { Schema } from '../db/schema.ts'
import type { ChangeFeed } from './change-feed.ts'
import { type JobRow, toJob } from './job-rows.ts'
import { claimShared } from './journal-claim-shared.ts'
import { QUEUED_RANKED, RUN_AT } from './journal-fair-rows.ts'
import type { Journal } from './types.ts'

/** The ids a claim picks, as a subquery of `jobs`: the frame claimKind and claimFair share. */
type PickDue = (
  jobs: SelectQueryBuilder<Schema, 'jobs', { id: string }>,
) => SelectQueryBuilder<Schema, 'jobs', { id: string }>

/** Marks the jobs `pick` chooses running (at `startedAt`, a slot of the compiled query) and answers them. */
function claimPicked(db: Db, startedAt: never, pick: PickDue) {
  return db
    .updateTable('jobs')
    .set((eb) => ({ status: 'running', attempts: eb('attempts', '+', 1), started_at: startedAt }))
    .where('id', 'in', (eb) => {
      const due = pick(eb.selectFrom('jobs').select('id'))
      // One claimer per row in PostgreSQL, where several processes may claim at once.
      return db.getExecutor().adapter instanceof PostgresAdapter ? due.forUpdate().skipLocked() : due
    })
    .returningAll()
}

/** Claims a kind's oldest due jobs; values: now (started_at), kind, now (due by), how many. */
const claimKind = compiledOnce((db, value) =>
  claimPicked(db, value(0), (jobs) =>
    jobs
      .where('status', '=', 'queued')
      .where('kind', '=', value(1))
      .where('run_at', '<=', value(2))
      .orderBy('run_at')
      .orderBy('created_at')
      .limit(value(3)),
  ),
)

/** Claims a fair kind's due jobs lowest rank first; values: now (started_at), kind, now (due by), how many. */
const claimFair = compiledOnce((db, value) =>
  claimPicked(db, value(0), (jobs) =>
    jobs
      .where(QUEUED_RANKED)
      .where('kind', '=', value(1))
      .where(RUN_AT, '<=', value(2))
      .orderBy('fair_rank')
      .orderBy('run_at')
      .orderBy('created_at')
      .limit(value(3)),
  ),
)

/**
 * The dispatcher's claim of due jobs: each kind in its own slice of jobs_claim_order, oldest first (fair kinds
 * lowest rank first), so a claim reads only what it takes; the kinds of a lane take turns at going first, so a long
 * backlog of one cannot starve another. Claims commit through database.record(), with the turn's other writes.
 */
export function journalClaims(database: Database, fairKinds: ReadonlySet<string>, feed: ChangeFeed) {
  // Which of a lane's kinds goes first at the next claim.
  let nextTurn = 0
  const claim: Journal['claim'] = async (kinds, limit, now, share) => {
    const first = nextTurn++
    // With a share: each owner's jobs running, and those claimed here, counted against it.
    const owners = share && new Map(share.running)
    // The lane's kinds in one write: a claim waits for its commit, and a wait for each kind had held a busy lane
    // back (see the dispatcher).
    const claimed = await database.record(async (tx) => {
      const rows: JobRow[] = []
      for (let i = 0; i < kinds.length && rows.length < limit; i++) {
        const kind = kinds[(first + i) % kinds.length] as string
        const want = limit - rows.length
        const fair = fairKinds.has(kind)
        try {
          rows.push(
            ...(share && owners
              ? await claimShared(tx, kind, fair, want, now, share.perOwner, owners)
              : (await (fair ? claimFair : claimKind)(tx, [now, kind, now, want])).rows),
          )
        } catch (err) {
          // Bookkeeping has no savepoint (GroupCommit): what an earlier kind claimed stays claimed, so it is run.
          if (rows.length === 0) throw err
          break
        }
      }
      return rows
    })
    for (const row of claimed) feed.changed(row.id, 'running')
    return claimed
      .sort((a, b) => (a.fair_rank ?? 0) - (b.fair_rank ?? 0) || a.run_at - b.run_at || a.created_at - b.created_at)
      .map(toJob)
  }
  return { claim }
}
