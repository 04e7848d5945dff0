import fs from 'node:fs'
import type { FastifyBaseLogger } from 'fastify'
import { type AvatarsRepository, createAvatarsRepository } from './avatars/repository.ts'
import type { Config } from './config.ts'
import { type Db, openDatabase } from './db/sqlite.ts'
import { createImagePool, createInlineImageRunner, type ImagePool } from './images/pool.ts'
import { Dispatcher } from './jobs/dispatcher.ts'
import { AvatarKind, avatarHandler } from './jobs/handlers/avatar.ts'
import { mailHandlers } from './jobs/handlers/mail.ts'
import { createSqliteJournal } from './jobs/sqlite-journal.ts'
import type { JobQueue } from './jobs/types.ts'
import { createMailTransport, type MailTransport } from './mail/transport.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { type StoragePaths, storagePaths } from './storage/paths.ts'
import { createUsersRepository, type UsersRepository } from './users/repository.ts'

/** The plain, HTTP-free parts of deckhand that routes call into. */
export interface Services {
  config: Config
  db: Db
  users: UsersRepository
  queue: JobQueue
  avatars: AvatarsRepository
  paths: StoragePaths
  pool: ImagePool
  mail: MailTransport
  dispatcher: Dispatcher
  metrics: Metrics
  close(): Promise<void>
}

/** Opens the journal, the mail transport, the image pool and the dispatcher (not yet started). */
export function createServices(
  config: Config,
  log: FastifyBaseLogger,
  options: { workerFile?: string } = {},
): Services {
  const paths = storagePaths(config.dataDir)
  const db = openDatabase(paths.database, { synchronous: config.SQLITE_SYNCHRONOUS })
  const queue = createSqliteJournal(db)
  const avatars = createAvatarsRepository(db)
  // Partial uploads of requests a crash cut off: never acknowledged, so nobody is owed them.
  fs.rmSync(paths.incoming, { recursive: true, force: true })
  const pool = config.IMAGE_WORK_INLINE
    ? createInlineImageRunner()
    : createImagePool({
        threads: config.poolThreads,
        idleTimeoutMs: config.POOL_IDLE_TIMEOUT_MS,
        maxQueue: config.POOL_MAX_QUEUE,
        maxHeapMb: config.POOL_MAX_HEAP_MB,
        nice: config.IMAGE_THREAD_NICE,
        filename: options.workerFile,
      })
  const metrics = createMetrics({ queue, pool })
  const mail = createMailTransport({
    smtpUrl: config.SMTP_URL,
    from: config.MAIL_FROM,
    outboxDir: paths.outbox,
    concurrency: config.MAIL_CONCURRENCY,
    timeoutMs: config.MAIL_TIMEOUT_MS,
  })
  const dispatcher = new Dispatcher({
    queue,
    lanes: [
      {
        name: 'mail',
        concurrency: config.MAIL_CONCURRENCY,
        handlers: mailHandlers({
          transport: mail,
          adminEmail: config.ADMIN_EMAIL,
          messageIdDomain: mailDomain(config.MAIL_FROM),
        }),
      },
      {
        // Fed only as many jobs as the pool has threads; the rest wait in the journal, not in memory.
        name: 'images',
        concurrency: config.poolThreads,
        handlers: {
          [AvatarKind]: avatarHandler({
            pool,
            avatars,
            paths,
            sizes: config.avatarSizes,
            formats: [...config.avatarFormats, 'jpeg'],
            maxPixels: config.MAX_INPUT_PIXELS,
            timeoutMs: config.IMAGE_TIMEOUT_MS,
          }),
        },
      },
    ],
    maxAttempts: config.MAX_ATTEMPTS,
    retryBaseMs: config.RETRY_BASE_MS,
    retryMaxMs: config.RETRY_MAX_MS,
    pollIntervalMs: config.POLL_INTERVAL_MS,
    log,
    onSettled: metrics.observeJob,
  })
  return {
    config,
    db,
    users: createUsersRepository(db),
    queue,
    avatars,
    paths,
    pool,
    mail,
    dispatcher,
    metrics,
    async close() {
      await dispatcher.stop(config.SHUTDOWN_GRACE_MS)
      await pool.close()
      mail.close()
      db.close()
    },
  }
}

function mailDomain(from: string): string {
  return from.match(/@([A-Za-z0-9.-]+)/)?.[1] ?? 'deckhand.local'
}
