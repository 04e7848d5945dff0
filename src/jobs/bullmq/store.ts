import type { Queue } from 'bullmq'
import { compiledPerCount } from '../../db/compiled.ts'
import type { Database } from '../../db/database.ts'
import { newJobRow } from '../job-rows.ts'
import type { JobStore } from '../types.ts'
import { bullAdmin } from './admin.ts'
import { bullCounts } from './counts.ts'
import { fromOutbox } from './data.ts'
import { BullEvents } from './events.ts'
import { bullLookup, findJob } from './lookup.ts'
import { openQueues, type QueuesOptions } from './queues.ts'
import { createOutboxRelay } from './relay.ts'
import { bullDeleteFinished } from './retention.ts'

/** Inserts `count` outbox rows; values: id, kind, owner, payload (JSON), created at, for each. */
const insertOutbox = compiledPerCount(
  (count) => (db, value) =>
    db.insertInto('outbox').values(
      Array.from({ length: count }, (_, i) => ({
        id: value(5 * i),
        kind: value(5 * i + 1),
        owner_id: value(5 * i + 2),
        payload: value(5 * i + 3),
        created_at: value(5 * i + 4),
      })),
    ),
)

export interface BullStoreOptions extends QueuesOptions {
  /** Relay outbox rows left behind (a crash or a Redis outage between commit and hand-over) this often; 0: never. */
  relayIntervalMs: number
  /**
   * Kinds whose lanes have a per-owner share (Lane.perOwner): a worker may take one of their jobs and hand it back
   * unattempted, so they show as running only once the runner marks the attempt begun (BullProgress.started).
   */
  deferringKinds?: readonly string[]
  /** Kinds dispatched fairly between owners (src/jobs/fair-rank.ts): their jobs carry a rank as BullMQ priority. */
  fairKinds?: readonly string[]
  /** Kinds whose pending jobs are counted per owner (pendingCountOf); unset, every kind. */
  ownerCountedKinds?: readonly string[]
}

export type BullStore = JobStore & {
  queues: ReadonlyMap<string, Queue>
  /**
   * Resolves once the connection is ready, or after `ms` if it is not: requests are refused while it connects,
   * so a process waits this long for it at start, but Redis away is no reason not to start.
   */
  connected(ms: number): Promise<boolean>
}

/**
 * Jobs in BullMQ, one queue per kind. Enqueuing writes an outbox row in the same database transaction as the
 * rest (a user, an upload's number); after commit the row is handed to BullMQ under the job's own id and
 * deleted. Should the process die or Redis be away in between, the relay sweep hands it over later; the id
 * makes a second hand-over a no-op (BullMQ ignores a job id it already has). Assembled here from its parts: the
 * queues (queues.ts), the relay, the queue events, lookups, an owner's or admin's requests, counts and the
 * retention sweep's clean.
 */
export function createBullStore(database: Database, options: BullStoreOptions): BullStore {
  const { db } = database
  const { prefix, log } = options
  const target = new URL(options.redisUrl)
  const deferring = new Set(options.deferringKinds)
  const ownerCounted = new Set(options.ownerCountedKinds ?? options.kinds)
  const fair = new Set(options.fairKinds)
  const q = openQueues(options)
  const { redis, queues } = q
  const relay = createOutboxRelay({
    db,
    redis,
    fromRedis: q.calls.bounded,
    queues,
    prefix,
    fair,
    ownerCounted,
    intervalMs: options.relayIntervalMs,
    log,
  })
  const feed = new BullEvents({
    redisUrl: options.redisUrl,
    prefix,
    kinds: options.kinds,
    deferring,
    watchErrors: options.watchErrors,
  })
  const find = findJob(q)

  return {
    describe: `BullMQ at ${target.hostname}:${target.port || 6379} (prefix ${prefix}), outbox in ${database.describe}`,
    queues,

    async enqueue(tx, jobs) {
      if (jobs.length === 0) return []
      const now = Date.now()
      const rows = jobs.map((job) => newJobRow(job, now))
      const values = rows.flatMap((row) => [row.id, row.kind, row.owner_id, row.payload, row.created_at])
      tx.write(insertOutbox(rows.length).compile(tx.db, values))
      // Committed: the jobs are safe in the outbox. The hand-over runs behind the answer, never awaited by it; a
      // failure is the sweep's to repair, and is logged, never the client's error. With Redis away it is left to
      // the sweep at once.
      tx.afterCommit(() => {
        if (redis.status !== 'ready') return
        relay.handOverSoon(rows).catch((err) => log.warn({ err }, 'hand-over to BullMQ failed; the relay will retry'))
      })
      return rows.map(fromOutbox)
    },

    onSettled: (listener) => feed.onSettled(listener),
    onChange: (listener) => feed.onChange(listener),

    ...bullLookup(db, q, find, deferring),
    ...bullAdmin({ db, queues: q, relay, find, feed, prefix, deferring, ownerCounted }),
    ...bullCounts(db, q, relay, prefix, fair),
    deleteFinished: bullDeleteFinished(q),

    async close() {
      await relay.close()
      await q.close(feed.connections)
    },

    async ping() {
      await q.calls.bounded(() => redis.ping())
    },

    connected: (ms) => q.connected(ms),
  }
}
