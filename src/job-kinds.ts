import type { Logger } from 'pino'
import { avatarJob } from './avatars/kind.ts'
import type { Config } from './config.ts'
import type { Database } from './db/database.ts'
import type { ImagePool } from './images/pool.ts'
import type { JobKind } from './jobs/kind.ts'
import type { JobStore } from './jobs/types.ts'
import { mailKinds } from './mail/kinds.ts'
import type { MailTransport } from './mail/transport.ts'
import type { Metrics } from './metrics.ts'
import type { ObjectStore } from './storage/object-store.ts'
import type { StoragePaths } from './storage/paths.ts'
import { webhookDeliveryJob } from './webhooks/kinds.ts'

/** The parts of a job-running process that kinds' handlers are made from; each kind takes the few it names. */
export interface RunnerParts {
  config: Config
  database: Database
  pool: ImagePool
  paths: StoragePaths
  store: ObjectStore
  mail: MailTransport
  metrics: Metrics
}

/** The parts every process has, that kinds' api-side hooks (an admin's retry, a cancel) are made from. */
export interface ApiParts {
  store: ObjectStore
}

/** The parts every process has, that kinds' sweeps of their files are made from. */
export interface SweepParts {
  config: Config
  database: Database
  paths: StoragePaths
  store: ObjectStore
  queue: JobStore
  metrics: Metrics
  log: Logger
  /** This process serves the api (roles `all` and `api`). */
  servesApi: boolean
  /** This process runs jobs (roles `all` and `worker`). */
  runsJobs: boolean
}

// biome-ignore lint/suspicious/noExplicitAny: the list holds kinds of every payload; each kind types its own.
export type DeckhandJobKind = JobKind<any, RunnerParts, ApiParts, SweepParts>

/**
 * Every job kind deckhand runs, the one list: a kind is declared in its feature (defineJobKind) and named here.
 * Queues, lanes, metric labels, fairness, per-owner counts, admin retries and cancels are derived from it.
 */
export const JOB_KINDS: readonly DeckhandJobKind[] = [...mailKinds, avatarJob, webhookDeliveryJob]
