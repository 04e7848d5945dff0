import type { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Db } from '../../db/database.ts'
import type { OutboxRow } from './data.ts'
import { handOverRanks } from './hand-over-ranks.ts'
import { ownerSetKey } from './owner-pending.ts'
import type { RedisCall } from './redis-calls.ts'

export interface RelayOptions {
  db: Db
  redis: Redis
  fromRedis: RedisCall
  queues: ReadonlyMap<string, Queue>
  prefix: string
  /** Kinds whose jobs carry a fair rank as BullMQ priority. */
  fair: ReadonlySet<string>
  /** Kinds whose pending jobs are counted per owner: the owner's set gets each at hand-over. */
  ownerCounted: ReadonlySet<string>
  /** How often the outbox is swept for rows left behind; 0: never (a worker process). */
  intervalMs: number
  log: Logger
}

export interface OutboxRelay {
  /** Hands rows to BullMQ, fair ones one hand-over after another in this process, then deletes them from the outbox. */
  handOver(rows: OutboxRow[]): Promise<void>
  /** Jobs committed but not yet handed over, per kind: how many, and the commit time of the oldest. */
  byKind(): Promise<Map<string, { count: number; since: number }>>
  close(): Promise<void>
}

/**
 * The outbox's way into BullMQ: each commit's rows are handed over after it, and a sweep every `intervalMs` relays
 * rows left behind (a crash or a Redis outage between commit and hand-over). The job id makes a second hand-over a
 * no-op (BullMQ ignores a job id it already has).
 */
export function createOutboxRelay(options: RelayOptions): OutboxRelay {
  const { db, redis, queues, fair, ownerCounted, prefix, log, fromRedis } = options

  async function handOverNow(all: OutboxRow[]): Promise<void> {
    // A kind this process has no queue for (a newer process wrote it, in a rolling deploy) stays in the outbox for
    // a process that knows it; it must not fail the hand-over of the rows beside it.
    const rows = all.filter((row) => queues.has(row.kind))
    if (rows.length === 0) return
    await fromRedis(async () => {
      const ranks = await handOverRanks(redis, queues, prefix, fair, rows)
      await Promise.all(
        rows.map((row) =>
          (queues.get(row.kind) as Queue).add(
            row.kind as never,
            { ownerId: row.owner_id, payload: JSON.parse(row.payload), createdAt: row.created_at },
            ranks.has(row.id) ? { jobId: row.id, priority: ranks.get(row.id) } : { jobId: row.id },
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

  /*
   * Hand-overs of fair rows go one after another in this process: a rank is read from the jobs already waiting, so
   * one ranked before the job ranked just ahead of it was added would not see it (with nothing waiting, both would
   * start again at the front, out of their owner's order). Other rows go at once. Between processes two ranks may
   * still tie: equal ranks run first come, first served.
   */
  let fairTurn: Promise<void> = Promise.resolve()
  const handOver = (rows: OutboxRow[]) => {
    if (!rows.some((row) => fair.has(row.kind))) return handOverNow(rows)
    const turn = fairTurn.then(() => handOverNow(rows))
    fairTurn = turn.catch(() => {})
    return turn
  }

  async function byKind(): Promise<Map<string, { count: number; since: number }>> {
    const rows = await db
      .selectFrom('outbox')
      .select((eb) => ['kind', eb.fn.countAll<number>().as('count'), eb.fn.min('created_at').as('since')])
      .groupBy('kind')
      .execute()
    return new Map(rows.map((r) => [r.kind, { count: Number(r.count), since: Number(r.since) }]))
  }

  let sweeping: Promise<void> | undefined
  const unknownSeen = new Set<string>()
  const sweep = () => {
    sweeping ??= (async () => {
      // Redis away: the rows wait where they are; ioredis' reconnects are logged already.
      if (redis.status !== 'ready') return
      const rows = await db
        .selectFrom('outbox')
        .selectAll()
        .where('kind', 'in', [...queues.keys()])
        .orderBy('created_at')
        .limit(500)
        .execute()
      if (rows.length > 0) log.info({ jobs: rows.length }, 'relaying jobs left in the outbox')
      await handOver(rows)
      const unknown = await db
        .selectFrom('outbox')
        .select((eb) => ['kind', eb.fn.countAll<number>().as('count')])
        .where('kind', 'not in', [...queues.keys()])
        .groupBy('kind')
        .execute()
      // Once per kind, not at every pass: a rolling deploy may take a while.
      if (unknown.some((r) => !unknownSeen.has(r.kind))) {
        for (const r of unknown) unknownSeen.add(r.kind)
        log.warn(
          { waiting: Object.fromEntries(unknown.map((r) => [r.kind, Number(r.count)])) },
          'outbox rows of job kinds this process does not run wait for a process that does',
        )
      }
    })()
      .catch((err) => log.warn({ err }, 'outbox relay failed; will try again'))
      .finally(() => {
        sweeping = undefined
      })
    return sweeping
  }
  const timer = options.intervalMs > 0 ? setInterval(sweep, options.intervalMs).unref() : undefined
  if (timer) void sweep()

  return {
    handOver,
    byKind,
    async close() {
      clearInterval(timer)
      await sweeping
    },
  }
}
