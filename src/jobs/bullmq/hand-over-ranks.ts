import type { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { MAX_PRIORITY, OWNER_RANK_TTL_SECONDS, ownerRankKey, RANK_JOBS } from '../fair-rank.ts'
import type { OutboxRow } from './data.ts'

/**
 * The fair rows' ranks (src/jobs/fair-rank.ts) at their hand-over, by id, in one script; no round trip when none is
 * fair. A job already handed over (a relayed second hand-over) is not moved: BullMQ ignores the add of an id it has.
 */
export async function handOverRanks(
  redis: Redis,
  queues: ReadonlyMap<string, Queue>,
  prefix: string,
  fair: ReadonlySet<string>,
  rows: OutboxRow[],
): Promise<Map<string, number>> {
  const ranked = rows.filter((row) => fair.has(row.kind))
  if (ranked.length === 0) return new Map()
  const keys = ranked.flatMap((row) => [
    (queues.get(row.kind) as Queue).toKey('prioritized'),
    ownerRankKey(prefix, row.kind, row.owner_id),
  ])
  const ranks = (await redis.eval(RANK_JOBS, keys.length, ...keys, OWNER_RANK_TTL_SECONDS, MAX_PRIORITY)) as number[]
  return new Map(ranked.map((row, i) => [row.id, Number(ranks[i])]))
}
