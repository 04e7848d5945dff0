import fs from 'node:fs'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { AuthFailureLimit } from './auth/failure-limit.ts'
import { type AvatarsRepository, createAvatarsRepository } from './avatars/repository.ts'
import { UploadSlots } from './avatars/upload-slots.ts'
import type { Config } from './config.ts'
import { createDashboardSessions, type DashboardSessions } from './dashboard/sessions.ts'
import { type Database, openDatabase } from './db/database.ts'
import { errorWatcher, type WatchErrors } from './error-events.ts'
import type { IdempotencyGuard } from './idempotency/guard.ts'
import { openIdempotency } from './idempotency/open-guard.ts'
import { openImagePool } from './images/open-pool.ts'
import type { ImagePool } from './images/pool.ts'
import { type DeckhandJobKind, JOB_KINDS } from './job-kinds.ts'
import type { CancelCleanups } from './jobs/cancel.ts'
import { JobChangeHub } from './jobs/job-events.ts'
import { JobWaiters } from './jobs/job-waiters.ts'
import { JobKinds } from './jobs/kind.ts'
import { openQueue } from './jobs/open-queue.ts'
import { openRunner } from './jobs/open-runner.ts'
import { retentionTask } from './jobs/retention.ts'
import type { RetryChecks } from './jobs/retry.ts'
import { Sweeper, type SweepTask } from './jobs/sweeper.ts'
import type { JobRunner, JobStore } from './jobs/types.ts'
import { mailLane } from './mail/kinds.ts'
import { openMailTransport } from './mail/open-transport.ts'
import type { MailTransport } from './mail/transport.ts'
import { createErrorCounter, createMetrics, type Metrics } from './metrics.ts'
import type { ObjectStore } from './storage/object-store.ts'
import { openObjectStore } from './storage/open-store.ts'
import { type StoragePaths, storagePaths } from './storage/paths.ts'
import { createUsersRepository, type UsersRepository } from './users/repository.ts'
import { webhookJobEvents } from './webhooks/job-events.ts'
import { createWebhooksRepository, type WebhooksRepository } from './webhooks/repository.ts'

/** What a process does: `all` (the default) serves HTTP and runs jobs; `api` only serves; `worker` only runs. */
export type Role = 'all' | 'api' | 'worker'

/*
 * Each part is a decorator of the instance of its own, as fastify/demo's plugins give theirs: app.ts hands each
 * route group the few it names, and tests read the one they look at.
 */
declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    role: Role
    database: Database
    /** DATA_DIR's folders: the node's own files. */
    paths: StoragePaths
    /** Uploads and avatars: the folder STORAGE_DIR or the bucket of STORAGE_URL. */
    store: ObjectStore
    queue: JobStore
    /** Requests waiting for their job to finish (`Prefer: wait`). */
    waiters: JobWaiters
    /** Each job's changes, for its event streams (`GET /jobs/:id/events`). */
    jobChanges: JobChangeHub
    metrics: Metrics
    /** Gives an emitter its 'error' listener (logged, counted in /metrics): for streams opened per request. */
    watchErrors: WatchErrors
    /** Retention and the kinds' files nothing points to any more, every RETENTION_SWEEP_MS once started. */
    sweeper: Sweeper
    /** Present where jobs run (roles `all` and `worker`). */
    runner: JobRunner | undefined
    pool: ImagePool | undefined
    mail: MailTransport | undefined
    /** Per job kind, whether an admin's retry of a failed job can succeed: asked by the api, wherever jobs run. */
    retryChecks: RetryChecks
    /** Per job kind, what a job called off before it ran leaves behind (an upload's original). */
    cancelCleanups: CancelCleanups
    users: UsersRepository
    avatars: AvatarsRepository
    /** Avatar uploads being received now, by user and by address. */
    uploads: UploadSlots
    /** Users' webhooks: where their jobs' events are delivered. */
    webhooks: WebhooksRepository
    /** Requests sent with an Idempotency-Key: their answers kept for their retries. */
    idempotency: IdempotencyGuard
    /** Dashboard logins, in the database; present when ADMIN_TOKEN is set. */
    dashboardSessions: DashboardSessions | undefined
    /** Wrong admin tokens per client address, shared by the dashboard's login and /admin (this process's count). */
    adminAuthFailures: AuthFailureLimit
  }
}

export interface PartsOptions {
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

/**
 * The composition root: opens each area's parts for the process's role, from the list of job kinds, and gives them
 * to `app` as decorators; they close with the instance, in the order that lets each finish with what it uses.
 */
export async function openParts(
  app: FastifyInstance,
  config: Config,
  log: Logger,
  options: PartsOptions = {},
): Promise<void> {
  const role = options.role ?? 'all'
  const servesApi = role !== 'worker'
  const runsJobs = role !== 'api'
  const kinds = new JobKinds(options.kinds ?? JOB_KINDS)
  const paths = storagePaths(config.dataDir)
  const errors = createErrorCounter()
  const watchErrors = errorWatcher(log, errors.count)

  // Every role: the database, the queue and what listens to it, the store, the metrics.
  const database = await openDatabase({
    url: config.DATABASE_URL,
    sqliteFile: paths.database,
    synchronous: config.SQLITE_SYNCHRONOUS,
    poolSize: config.DATABASE_POOL_SIZE,
    watchErrors,
    timeoutMs: config.DEPENDENCY_TIMEOUT_MS,
  })
  const opened = await openQueue(config, database, { kinds, relays: servesApi, log, watchErrors })
  const queue: JobStore = opened.queue
  const waiters = new JobWaiters(config.JOB_WAITERS_MAX, config.JOB_WAITERS_PER_USER)
  const jobChanges = new JobChangeHub()
  if (servesApi) {
    queue.onSettled((id) => waiters.settled(id))
    queue.onChange((change) => jobChanges.publish(change))
  }
  fs.mkdirSync(config.storageDir, { recursive: true })
  const store = await openObjectStore(config)
  // Partial uploads of requests a crash cut off: never acknowledged, so nobody is owed them.
  if (servesApi) fs.rmSync(paths.incoming, { recursive: true, force: true })
  const uploads = new UploadSlots({
    perUser: config.MAX_UPLOADS_IN_FLIGHT_PER_USER,
    perAddress: config.MAX_UPLOADS_IN_FLIGHT_PER_IP,
  })
  const pool = runsJobs
    ? (options.imagePool ??
      openImagePool(config, { preload: kinds.poolTasks, substitute: options.workerFile, watchErrors }))
    : undefined
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
  decorate(app, { config, role, database, paths, store, queue, waiters, jobChanges, metrics, watchErrors })

  // The features' repositories and the api's guards.
  const webhooks = createWebhooksRepository(database.db)
  const idempotency = openIdempotency(database, config.IDEMPOTENCY_TTL_MS, log)
  decorate(app, {
    users: createUsersRepository(database.db),
    avatars: createAvatarsRepository(database),
    uploads,
    webhooks,
    idempotency: idempotency.guard,
    // Each kind's feature says which of its failed jobs an admin may retry; an api with no runner asks too.
    retryChecks: kinds.retryChecks({ store }),
    cancelCleanups: kinds.cancelCleanups({ store }),
    dashboardSessions: config.ADMIN_TOKEN ? createDashboardSessions(database, config.ADMIN_TOKEN) : undefined,
    adminAuthFailures: new AuthFailureLimit(config.ADMIN_AUTH_FAILURES_MAX, config.ADMIN_AUTH_FAILURES_WINDOW_MS),
  })

  // Where jobs run: the image pool (above), the mail transport, and the runner of every kind's lane.
  const mail = pool ? openMailTransport(config, paths.mailFolder, watchErrors) : undefined
  let runner: JobRunner | undefined
  if (pool && mail) {
    const publishEvent = webhookJobEvents({ database, queue, webhooks })
    runner = await openRunner(config, opened, {
      lanes: kinds.lanes(config, { config, database, pool, paths, store, mail, metrics }),
      ownerCountedKinds: kinds.countedPerOwner,
      // A job whose kind has events (an avatar's ready or failed) queues its owner's webhook delivery.
      onFinished: async (job) => {
        const event = kinds.eventOf(job)
        if (event) await publishEvent(job, event)
      },
      onSettled: metrics.observeJob,
      log,
      watchErrors,
    })
  }
  decorate(app, { pool, mail, runner })

  // The sweeps: the apis forget the keys' answers they wrote (several sweeping one PostgreSQL is harmless), job
  // runners the finished jobs, and every kind's feature its files.
  const sweeps: SweepTask[] = []
  if (servesApi) sweeps.push(idempotency.sweep)
  if (runsJobs) sweeps.push(...jobSweeps(config, queue, database, metrics, log))
  sweeps.push(...kinds.sweeps({ config, database, paths, store, queue, metrics, log, servesApi, runsJobs }))
  const sweeper = new Sweeper(config.RETENTION_SWEEP_MS, sweeps, log)
  decorate(app, { sweeper })

  app.addHook('onClose', async () => {
    await sweeper.stop()
    waiters.close()
    await runner?.stop(config.SHUTDOWN_GRACE_MS)
    await pool?.close()
    mail?.close()
    await queue.close()
    store.close()
    await database.close()
    metrics.close()
  })
}

/**
 * What job-running processes sweep besides the kinds' files. Scaled out, every worker cleans the queues: BullMQ's
 * clean is one script at a time, safe to repeat.
 */
function jobSweeps(config: Config, queue: JobStore, database: Database, metrics: Metrics, log: Logger): SweepTask[] {
  return [
    retentionTask({
      store: queue,
      keepSucceededMs: config.JOB_RETENTION_MS,
      keepFailedMs: config.FAILED_JOB_RETENTION_MS,
      log,
      onSwept: metrics.observeJobsSwept,
    }),
    {
      name: 'job counts',
      run: async () => {
        await queue.foldCounts?.()
      },
    },
    {
      name: 'database space',
      run: async (stopping) => {
        const pages = await database.reclaimSpace(stopping)
        if (pages > 0) log.debug({ pages }, 'gave free database pages back to the file system')
      },
    },
  ]
}

/** Each part a decorator of its own, under the name and type FastifyInstance declares for it above. */
function decorate(app: FastifyInstance, parts: Partial<FastifyInstance>): void {
  // The entries lose each name's own type, which `parts` was checked against.
  for (const [name, part] of Object.entries(parts)) app.decorate(name, part as never)
}
