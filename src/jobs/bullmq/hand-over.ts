import type { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Db } from '../../db/database.ts'
import type { OutboxRow } from './data.ts'
import { handOverRanks } from './hand-over-ranks.ts'
import { ownerSetKey } from './owner-pending.ts'
import type { RedisCall } from './redis-calls.ts'

export interface HandOverOptions {
  db: Db
  redis: Redis
  fromRedis: RedisCall
  queues: ReadonlyMap<string, Queue>
  prefix: string
  /** Kinds whose jobs carry a fair rank as BullMQ priority. */
  fair: ReadonlySet<string>
  /** Kinds whose pending jobs are counted per owner: the owner's set gets each at hand-over. */
  ownerCounted: ReadonlySet<string>
}

/**
 * Hands outbox rows to BullMQ, then deletes them from the outbox: after the commit that wrote them, or from the
 * relay's sweep. Each kind's jobs go in one addBulk, so a turn's commits cost one round trip to Redis.
 */
export async function handOverRows(options: HandOverOptions, all: OutboxRow[]): Promise<void> {
  const { db, redis, queues, fair, ownerCounted, prefix, fromRedis } = options
  // A kind this process has no queue for (a newer process wrote it, in a rolling deploy) stays in the outbox for
  // a process that knows it; it must not fail the hand-over of the rows beside it.
  const rows = all.filter((row) => queues.has(row.kind))
  if (rows.length === 0) return
  const ofKind = new Map<string, OutboxRow[]>()
  for (const row of rows) {
    const same = ofKind.get(row.kind)
    if (same) same.push(row)
    else ofKind.set(row.kind, [row])
  }
  await fromRedis(async () => {
    const ranks = await handOverRanks(redis, queues, prefix, fair, rows)
    // Each kind's jobs in one addBulk: one round trip to Redis for all of them.
    await Promise.all(
      [...ofKind].map(([kind, jobs]) =>
        (queues.get(kind) as Queue).addBulk(
          jobs.map((row) => ({
            name: kind as never,
            data: { ownerId: row.owner_id, payload: JSON.parse(row.payload), createdAt: row.created_at },
            opts: ranks.has(row.id) ? { jobId: row.id, priority: ranks.get(row.id) } : { jobId: row.id },
          })),
        ),
      ),
    )
    // Before the outbox row goes: until then the outbox counts the job, after it the owner's set does. Only kinds
    // whose pending jobs are counted per owner: the others would pay a round trip to Redis for nothing.
    const counted = rows.filter((row) => ownerCounted.has(row.kind))
    if (counted.length > 0) {
      const multi = redis.multi()
      for (const row of counted) multi.sadd(ownerSetKey(prefix, row.kind, row.owner_id), row.id)
      await multi.exec()
    }
  })
  await db
    .deleteFrom('outbox')
    .where(
      'id',
      'in',
      rows.map((r) => r.id),
    )
    .execute()
}
