import { compiledOnce, compiledPerCount } from '../db/compiled.ts'
import type { Db } from '../db/database.ts'
import type { Transaction } from '../db/transaction.ts'
import { fairRank } from './fair-rank.ts'
import { NOT_STARTED, newJobRow, queuedJob } from './job-rows.ts'
import { QUEUED_RANKED } from './journal-fair-rows.ts'
import type { Job, NewJob } from './types.ts'

/*
 * The journal's enqueue: jobs inserted queued, those of fair kinds with their rank. The insert is a hot statement,
 * built and compiled once (see compiledOnce) for each of the few sizes enqueues come in.
 */

/** Inserts `count` jobs; values: id, kind, owner, payload (JSON), now, fair rank (or null) for each. */
const insertJobs = compiledPerCount(
  (count) => (db, value) =>
    db.insertInto('jobs').values(
      Array.from({ length: count }, (_, i) => ({
        id: value(6 * i),
        kind: value(6 * i + 1),
        owner_id: value(6 * i + 2),
        payload: value(6 * i + 3),
        created_at: value(6 * i + 4),
        status: 'queued' as const,
        run_at: value(6 * i + 4),
        fair_rank: value(6 * i + 5),
        ...NOT_STARTED,
      })),
    ),
)

/**
 * What a fair job's rank is set from, in one statement: the kind's front (its lowest rank queued and due, the
 * first row of jobs_fair_claim past any retry still waiting) and the owner's last rank queued (the last row of its
 * slice of jobs_fair_owner). values: kind, now, kind, owner.
 */
const rankBounds = compiledOnce((db, value) =>
  db.selectNoFrom((eb) => [
    eb
      .selectFrom('jobs')
      .select('fair_rank')
      .where(QUEUED_RANKED)
      .where('kind', '=', value(0))
      .where('run_at', '<=', value(1))
      .orderBy('fair_rank')
      .limit(1)
      .as('front'),
    eb
      .selectFrom('jobs')
      .select('fair_rank')
      .where(QUEUED_RANKED)
      .where('kind', '=', value(2))
      .where('owner_id', '=', value(3))
      .orderBy('fair_rank', 'desc')
      .limit(1)
      .as('last'),
  ]),
)

/** Each job's rank, or null for kinds that have none. Jobs of one owner in one enqueue rank one after another. */
async function ranks(tx: Db, jobs: NewJob[], now: number, fairKinds: ReadonlySet<string>) {
  const out: (number | null)[] = []
  const lastOf = new Map<string, number>()
  for (const job of jobs) {
    if (!fairKinds.has(job.kind)) {
      out.push(null)
      continue
    }
    const key = `${job.kind}\u0000${job.ownerId}`
    let rank = lastOf.get(key)
    if (rank !== undefined) rank += 1
    else {
      const { rows } = await rankBounds(tx, [job.kind, now, job.kind, job.ownerId])
      const bounds = rows[0] as { front: number | null; last: number | null } | undefined
      rank = fairRank(bounds?.front ?? undefined, bounds?.last ?? undefined)
    }
    lastOf.set(key, rank)
    out.push(rank)
  }
  return out
}

/**
 * Inserts `jobs` queued within `tx`, due at `now`, and returns them as stored. The rows are made here and nothing
 * is read back, so the insert is a write sent with the transaction's next statement (Transaction.write).
 */
export async function insertQueued(
  tx: Transaction,
  jobs: NewJob[],
  now: number,
  fairKinds: ReadonlySet<string>,
): Promise<Job[]> {
  if (jobs.length === 0) return []
  const rankOf = await ranks(tx.db, jobs, now, fairKinds)
  // Values and jobs made in one pass, without a row object spread per job: the enqueue runs twice a signup.
  const values: unknown[] = []
  const queued = jobs.map((job, i) => {
    const row = newJobRow(job, now)
    values.push(row.id, row.kind, row.owner_id, row.payload, now, rankOf[i] ?? null)
    return queuedJob(row)
  })
  tx.write(insertJobs(jobs.length).compile(tx.db, values))
  return queued
}
