import fs from 'node:fs'
import type { Logger } from 'pino'
import { AuthFailureLimit } from './auth/failure-limit.ts'
import { avatarOrphansTask } from './avatars/orphans.ts'
import { renderAvatarTask } from './avatars/render.ts'
import { type AvatarsRepository, createAvatarsRepository } from './avatars/repository.ts'
import { UploadSlots } from './avatars/upload-slots.ts'
import type { Config } from './config.ts'
import { createDashboardSessions, type DashboardSessions } from './dashboard/sessions.ts'
import { type Database, openDatabase } from './db/database.ts'
import { errorWatcher, type WatchErrors } from './error-events.ts'
import { IdempotencyGuard } from './idempotency/guard.ts'
import { createIdempotencyRecords } from './idempotency/records.ts'
import { idempotencyRetentionTask } from './idempotency/retention.ts'
import { createImagePool, type ImagePool } from './images/pool.ts'
import { type DeckhandJobKind, JOB_KINDS } from './job-kinds.ts'
import { BullRunner } from './jobs/bullmq/runner.ts'
import { createBullStore } from './jobs/bullmq/store.ts'
import type { CancelCleanups } from './jobs/cancel.ts'
import { createDbJournal } from './jobs/db-journal.ts'
import { Dispatcher } from './jobs/dispatcher.ts'
import { JobChangeHub } from './jobs/job-events.ts'
import { JobWaiters } from './jobs/job-waiters.ts'
import { JobKinds } from './jobs/kind.ts'
import { retentionTask } from './jobs/retention.ts'
import type { RetryChecks } from './jobs/retry.ts'
import { Sweeper, type SweepTask } from './jobs/sweeper.ts'
import type { Job, JobRunner, JobStore } from './jobs/types.ts'
import { mailFolderRetentionTask } from './mail/folder-retention.ts'
import { mailLane } from './mail/kinds.ts'
import { createMailTransport, type MailTransport } from './mail/transport.ts'
import { createErrorCounter, createMetrics, type Metrics } from './metrics.ts'
import type { ObjectStore } from './storage/object-store.ts'
import { openObjectStore } from './storage/open-store.ts'
import { type StoragePaths, storagePaths } from './storage/paths.ts'
import { createUsersRepository, type UsersRepository } from './users/repository.ts'
import { webhookJobEvents } from './webhooks/job-events.ts'
import { createWebhooksRepository, type WebhooksRepository } from './webhooks/repository.ts'

/** What a process does: `all` (the default) serves HTTP and runs jobs; `api` only serves; `worker` only runs. */
export type Role = 'all' | 'api' | 'worker'

/** The plain, HTTP-free parts of deckhand that routes call into. */
export interface Services {
  config: Config
  role: Role
  database: Database
  users: UsersRepository
  queue: JobStore
  /** Requests waiting for their job to finish (`Prefer: wait`). */
  waiters: JobWaiters
  /** Each job's changes, for its event streams (`GET /jobs/:id/events`). */
  jobChanges: JobChangeHub
  avatars: AvatarsRepository
  /** Users' webhooks: where their avatar events are delivered. */
  webhooks: WebhooksRepository
  /** Avatar uploads being received now, by user and by address. */
  uploads: UploadSlots
  paths: StoragePaths
  /** Uploads and avatars: the folder STORAGE_DIR or the bucket of STORAGE_URL. */
  store: ObjectStore
  metrics: Metrics
  /** Gives an emitter its 'error' listener (logged, counted in /metrics): for streams opened per request. */
  watchErrors: WatchErrors
  /** Present where jobs run (roles `all` and `worker`). */
  runner: JobRunner | undefined
  pool: ImagePool | undefined
  mail: MailTransport | undefined
  /** Retention and orphaned files, every RETENTION_SWEEP_MS once started. */
  sweeper: Sweeper
  /** Per job kind, whether an admin's retry of a failed job can succeed: asked by the api, wherever jobs run. */
  retryChecks: RetryChecks
  /** Per job kind, what a job called off before it ran leaves behind (an upload's original). */
  cancelCleanups: CancelCleanups
  /** Requests sent with an Idempotency-Key: their answers kept for their retries. */
  idempotency: IdempotencyGuard
  /** Dashboard logins, in the database; present when ADMIN_TOKEN is set. */
  dashboardSessions: DashboardSessions | undefined
  /** Wrong admin tokens per client address, shared by the dashboard's login and /admin (this process's count). */
  adminAuthFailures: AuthFailureLimit
  close(): Promise<void>
}

export interface ServicesOptions {
  role?: Role
  /** A module that stands in for every image task's own, exporting the same names: tests substitute one that fails. */
  workerFile?: string
  /** The job kinds this process knows: JOB_KINDS, or (tests) a list with kinds of their own. */
  kinds?: readonly DeckhandJobKind[]
  /**
   * An image pool to use instead of Piscina's: src/bench/ gives one that runs every task on the main thread, to
   * show what the pool buys. Not a setting: nobody runs deckhand so.
   */
  imagePool?: ImagePool
}

/** Opens the database and the queue, and for job-running roles the image pool, the mail transport and the runner. */
export async function createServices(config: Config, log: Logger, options: ServicesOptions = {}): Promise<Services> {
  const role = options.role ?? 'all'
  const kinds = new JobKinds(options.kinds ?? JOB_KINDS)
  const paths = storagePaths(config.dataDir)
  const errors = createErrorCounter()
  const watchErrors = errorWatcher(log, errors.count)
  const database = await openDatabase({
    url: config.DATABASE_URL,
    sqliteFile: paths.database,
    synchronous: config.SQLITE_SYNCHRONOUS,
    poolSize: config.DATABASE_POOL_SIZE,
    watchErrors,
    timeoutMs: config.DEPENDENCY_TIMEOUT_MS,
  })
  const journal = config.QUEUE === 'journal' ? createDbJournal(database, { fairKinds: kinds.fair }) : undefined
  const bull = journal
    ? undefined
    : createBullStore(database, {
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
        relayIntervalMs: role === 'worker' ? 0 : config.POLL_INTERVAL_MS,
        timeoutMs: config.DEPENDENCY_TIMEOUT_MS,
        log,
        watchErrors,
      })
  if (bull && !(await bull.connected(config.DEPENDENCY_TIMEOUT_MS))) {
    log.warn('Redis cannot be reached; starting anyway: what needs it answers 503 until it can')
  }
  const queue: JobStore = journal ?? (bull as JobStore)
  const waiters = new JobWaiters(config.JOB_WAITERS_MAX, config.JOB_WAITERS_PER_USER)
  const jobChanges = new JobChangeHub()
  if (role !== 'worker') {
    queue.onSettled((id) => waiters.settled(id))
    queue.onChange((change) => jobChanges.publish(change))
  }
  const avatars = createAvatarsRepository(database)
  const webhooks = createWebhooksRepository(database.db)
  fs.mkdirSync(config.storageDir, { recursive: true })
  const store = openObjectStore(config)
  if (role !== 'worker') {
    // Partial uploads of requests a crash cut off: never acknowledged, so nobody is owed them.
    fs.rmSync(paths.incoming, { recursive: true, force: true })
  }

  const runsJobs = role !== 'api'
  const pool = !runsJobs
    ? undefined
    : (options.imagePool ??
      createImagePool({
        threads: config.poolThreads,
        idleTimeoutMs: config.POOL_IDLE_TIMEOUT_MS,
        maxQueue: config.POOL_MAX_QUEUE,
        maxHeapMb: config.POOL_MAX_HEAP_MB,
        nice: config.IMAGE_THREAD_NICE,
        preload: renderAvatarTask,
        substitute: options.workerFile,
        watchErrors,
      }))
  const uploads = new UploadSlots({
    perUser: config.MAX_UPLOADS_IN_FLIGHT_PER_USER,
    perAddress: config.MAX_UPLOADS_IN_FLIGHT_PER_IP,
  })
  // Each kind's feature says which of its failed jobs an admin may retry; an api with no runner asks too.
  const retryChecks: RetryChecks = kinds.retryChecks({ store })
  const cancelCleanups: CancelCleanups = kinds.cancelCleanups({ store })
  const metrics = createMetrics({
    queue,
    pool,
    database,
    waiters,
    uploads,
    errors,
    kinds: kinds.names,
    mailKinds: kinds.inLane(mailLane),
  })
  let mail: MailTransport | undefined
  let runner: JobRunner | undefined
  if (pool) {
    mail = createMailTransport({
      smtpUrl: config.SMTP_URL,
      from: config.MAIL_FROM,
      folder: paths.mailFolder,
      maxConnections: config.SMTP_MAX_CONNECTIONS,
      timeoutMs: config.MAIL_TIMEOUT_MS,
      watchErrors,
    })
    const lanes = kinds.lanes(config, { config, database, pool, paths, store, mail, metrics })
    const publishEvent = webhookJobEvents({ database, queue, webhooks })
    const retries = {
      maxAttempts: config.MAX_ATTEMPTS,
      retryBaseMs: config.RETRY_BASE_MS,
      retryMaxMs: config.RETRY_MAX_MS,
      // A job whose kind has events (an avatar's ready or failed) queues its owner's webhook delivery.
      onFinished: async (job: Job) => {
        const event = kinds.eventOf(job)
        if (event) await publishEvent(job, event)
      },
    }
    runner = journal
      ? new Dispatcher({
          queue: journal,
          lanes,
          ...retries,
          pollIntervalMs: config.POLL_INTERVAL_MS,
          log,
          onSettled: metrics.observeJob,
        })
      : new BullRunner({
          redisUrl: config.REDIS_URL as string,
          prefix: config.QUEUE_PREFIX,
          lanes,
          ...retries,
          stalledAfterMs: config.STALLED_AFTER_MS,
          log,
          watchErrors,
          onSettled: metrics.observeJob,
          ownerCountedKinds: kinds.countedPerOwner,
        })
  }
  const idempotencyRecords = createIdempotencyRecords(database.db)
  const sweeps: SweepTask[] = []
  if (role !== 'worker') {
    // The apis write the keys' answers, so they forget them too; several sweeping one PostgreSQL is harmless.
    sweeps.push(idempotencyRetentionTask({ records: idempotencyRecords, ttlMs: config.IDEMPOTENCY_TTL_MS, log }))
  }
  if (runsJobs) {
    // Scaled out, every worker cleans the queues: BullMQ's clean is one script at a time, safe to repeat.
    sweeps.push(
      retentionTask({
        store: queue,
        keepSucceededMs: config.JOB_RETENTION_MS,
        keepFailedMs: config.FAILED_JOB_RETENTION_MS,
        log,
        onSwept: metrics.observeJobsSwept,
      }),
      {
        name: 'database space',
        run: async (stopping) => {
          const pages = await database.reclaimSpace(stopping)
          if (pages > 0) log.debug({ pages }, 'gave free database pages back to the file system')
        },
      },
    )
  }
  sweeps.push(
    avatarOrphansTask({
      paths,
      store,
      queue,
      avatars,
      // Node ends a request after REQUEST_TIMEOUT_MS; a minute more covers its handler's last steps (the sniff,
      // the move, the commit) on a slow disk.
      minAgeMs: config.REQUEST_TIMEOUT_MS + 60_000,
      incoming: role !== 'worker',
      stored: runsJobs,
      scratchMinAgeMs: config.IMAGE_TIMEOUT_MS + config.REQUEST_TIMEOUT_MS + 60_000,
      log,
      onRemoved: metrics.observeFilesSwept,
    }),
  )
  if (runsJobs && !config.SMTP_URL) {
    sweeps.push(
      mailFolderRetentionTask({
        folder: paths.mailFolder,
        keepMs: config.JOB_RETENTION_MS,
        log,
        onRemoved: (count) => metrics.observeFilesSwept('mail', count),
      }),
    )
  }
  const sweeper = new Sweeper(config.RETENTION_SWEEP_MS, sweeps, log)

  return {
    config,
    role,
    database,
    users: createUsersRepository(database.db),
    queue,
    waiters,
    jobChanges,
    avatars,
    webhooks,
    uploads,
    paths,
    store,
    metrics,
    watchErrors,
    runner,
    pool,
    mail,
    sweeper,
    retryChecks,
    cancelCleanups,
    idempotency: new IdempotencyGuard(idempotencyRecords, database, config.IDEMPOTENCY_TTL_MS),
    dashboardSessions: config.ADMIN_TOKEN ? createDashboardSessions(database, config.ADMIN_TOKEN) : undefined,
    adminAuthFailures: new AuthFailureLimit(config.ADMIN_AUTH_FAILURES_MAX, config.ADMIN_AUTH_FAILURES_WINDOW_MS),
    async close() {
      await sweeper.stop()
      waiters.close()
      await runner?.stop(config.SHUTDOWN_GRACE_MS)
      await pool?.close()
      mail?.close()
      await queue.close()
      store.close()
      await database.close()
      metrics.close()
    },
  }
}
