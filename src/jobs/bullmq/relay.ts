import type { Logger } from 'pino'
import { TurnBatch } from '../../turn-batch.ts'
import type { OutboxRow } from './data.ts'
import { type HandOverOptions, handOverRows } from './hand-over.ts'

export interface RelayOptions extends HandOverOptions {
  /** How often the outbox is swept for rows left behind; 0: never (a worker process). */
  intervalMs: number
  log: Logger
}

export interface OutboxRelay {
  /** Hands rows to BullMQ, fair ones one hand-over after another in this process, then deletes them from the outbox. */
  handOver(rows: OutboxRow[]): Promise<void>
  /** handOver, together with every other hand-over asked in this turn of the event loop (a commit's rows). */
  handOverSoon(rows: OutboxRow[]): Promise<void>
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
  const { db, redis, queues, fair, log } = options

  const handOverNow = (rows: OutboxRow[]) => handOverRows(options, rows)

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

  /*
   * The commits of one turn (a flood's signups) are handed over as one: one addBulk per kind and one delete from
   * the outbox, instead of a round trip to Redis per job and one to the database per commit.
   */
  const soon = new TurnBatch<{ rows: OutboxRow[]; done: (err?: unknown) => void }>((asked) => {
    handOver(asked.flatMap((a) => a.rows)).then(
      () => {
        for (const a of asked) a.done()
      },
      (err: unknown) => {
        for (const a of asked) a.done(err)
      },
    )
  })
  const handOverSoon = (rows: OutboxRow[]) =>
    new Promise<void>((resolve, reject) => soon.add({ rows, done: (err) => (err ? reject(err) : resolve()) }))

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
    handOverSoon,
    byKind,
    async close() {
      clearInterval(timer)
      await sweeping
    },
  }
}
