import { PostgresAdapter, sql } from 'kysely'
import type { Db } from '../db/database.ts'
import type { JobRow } from './job-rows.ts'
import { QUEUED_RANKED, RUN_AT } from './journal-fair-rows.ts'

/** How many candidates a shared claim reads per job it may take, past owners already at their share. */
const LOOK_AHEAD = 4
/** Reads of candidates in one shared claim of a kind, at most; each passes over the owners the last one filled. */
const MAX_READS = 4

/**
 * Claims up to `want` of a kind's oldest due jobs, no owner past `perOwner` jobs running: `owners` holds each
 * owner's running count and is updated with what this claims. Reads a bounded look-ahead of candidates in claim
 * order, leaving out owners already at their share, picks in JS, and claims exactly the picked ids, all within
 * `tx`. Built per call: the owners left out change every time (and are at most the lane's slots).
 */
export async function claimShared(
  tx: Db,
  kind: string,
  fair: boolean,
  want: number,
  now: number,
  perOwner: number,
  owners: Map<string, number>,
): Promise<JobRow[]> {
  const postgres = tx.getExecutor().adapter instanceof PostgresAdapter
  const picked: string[] = []
  for (let read = 0; read < MAX_READS && picked.length < want; read++) {
    const full = [...owners].flatMap(([owner, n]) => (n >= perOwner ? [owner] : []))
    const limit = LOOK_AHEAD * (want - picked.length)
    let query = tx
      .selectFrom('jobs')
      .select(['id', 'owner_id'])
      .where(fair ? QUEUED_RANKED : sql<boolean>`status = 'queued'`)
      .where('kind', '=', kind)
      .where(fair ? RUN_AT : sql<number>`run_at`, '<=', now)
    if (full.length > 0) query = query.where('owner_id', 'not in', full)
    if (picked.length > 0) query = query.where('id', 'not in', picked)
    // Fair, the owners under their share come in rank order: the share caps what each runs at once, the rank
    // decides whose turn it is.
    if (fair) query = query.orderBy('fair_rank')
    query = query.orderBy('run_at').orderBy('created_at').limit(limit)
    // Rows read are locked until the claim commits; another claimer passes over them (as claimKind's do).
    const candidates = await (postgres ? query.forUpdate().skipLocked() : query).execute()
    for (const { id, owner_id } of candidates) {
      if (picked.length === want) break
      const n = owners.get(owner_id) ?? 0
      if (n >= perOwner) continue
      owners.set(owner_id, n + 1)
      picked.push(id)
    }
    // Fewer than asked for: nothing more is due for anyone under their share.
    if (candidates.length < limit) break
  }
  if (picked.length === 0) return []
  return tx
    .updateTable('jobs')
    .set((eb) => ({ status: 'running', attempts: eb('attempts', '+', 1), started_at: now }))
    .where('id', 'in', picked)
    .where('status', '=', 'queued')
    .returningAll()
    .execute()
}
