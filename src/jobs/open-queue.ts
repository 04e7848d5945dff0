import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import type { Database } from '../db/database.ts'
import type { WatchErrors } from '../error-events.ts'
import type { BullStore } from './bullmq/store.ts'
import { createDbJournal } from './db-journal.ts'
import type { Journal } from './types.ts'

/** What the stores need of the list of kinds (JobKinds): names only. */
export interface QueueKinds {
  readonly names: readonly string[]
  readonly fair: readonly string[]
  readonly shared: readonly string[]
  readonly countedPerOwner: readonly string[]
}

export interface OpenQueueOptions {
  kinds: QueueKinds
  /** Hand outbox rows left behind to BullMQ on every poll (the api processes, which write most of them). */
  relays: boolean
  log: Logger
  watchErrors: WatchErrors
}

/** The queue of QUEUE, told apart so that the runner that serves it can be chosen (open-runner.ts). */
export type OpenedQueue = { backend: 'journal'; queue: Journal } | { backend: 'bullmq'; queue: BullStore }

/** Opens the queue: the journal in the database (QUEUE=journal), or BullMQ over the database's outbox. */
export async function openQueue(config: Config, database: Database, options: OpenQueueOptions): Promise<OpenedQueue> {
  const { kinds, log, watchErrors } = options
  if (config.QUEUE === 'journal') {
    return { backend: 'journal', queue: createDbJournal(database, { fairKinds: kinds.fair }) }
  }
  // Loaded only for QUEUE=bullmq: BullMQ and ioredis are memory that a process on the journal would hold for nothing.
  const { createBullStore } = await import('./bullmq/store.ts')
  const bull = createBullStore(database, {
    redisUrl: config.REDIS_URL as string,
    prefix: config.QUEUE_PREFIX,
    kinds: kinds.names,
    deferringKinds: kinds.shared,
    fairKinds: kinds.fair,
    ownerCountedKinds: kinds.countedPerOwner,
    maxAttempts: config.MAX_ATTEMPTS,
    keepSucceededMs: config.JOB_RETENTION_MS,
    keepFailedMs: config.FAILED_JOB_RETENTION_MS,
    // The apis sweep it: they write most of it. Workers write only webhook deliveries, handed over at once; one
    // left behind by a Redis outage is relayed by an api's sweep like any other row.
    relayIntervalMs: options.relays ? config.POLL_INTERVAL_MS : 0,
    timeoutMs: config.DEPENDENCY_TIMEOUT_MS,
    log,
    watchErrors,
  })
  if (!(await bull.connected(config.DEPENDENCY_TIMEOUT_MS))) {
    log.warn('Redis cannot be reached; starting anyway: what needs it answers 503 until it can')
  }
  return { backend: 'bullmq', queue: bull }
}
