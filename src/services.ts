import path from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from './config.ts'
import { type Db, openDatabase } from './db/sqlite.ts'
import { Dispatcher } from './jobs/dispatcher.ts'
import { mailHandlers } from './jobs/handlers/mail.ts'
import { createSqliteJournal } from './jobs/sqlite-journal.ts'
import type { JobQueue } from './jobs/types.ts'
import { createMailTransport, type MailTransport } from './mail/transport.ts'
import { createUsersRepository, type UsersRepository } from './users/repository.ts'

/** The plain, HTTP-free parts of deckhand that routes call into. */
export interface Services {
  config: Config
  db: Db
  users: UsersRepository
  queue: JobQueue
  mail: MailTransport
  dispatcher: Dispatcher
  close(): Promise<void>
}

/** Opens the journal, the mail transport and the dispatcher (not yet started). */
export function createServices(config: Config, log: FastifyBaseLogger): Services {
  const db = openDatabase(path.join(config.dataDir, 'deckhand.db'), { synchronous: config.SQLITE_SYNCHRONOUS })
  const queue = createSqliteJournal(db)
  const mail = createMailTransport({
    smtpUrl: config.SMTP_URL,
    from: config.MAIL_FROM,
    outboxDir: path.join(config.dataDir, 'outbox'),
    concurrency: config.MAIL_CONCURRENCY,
    timeoutMs: config.MAIL_TIMEOUT_MS,
    log,
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
    ],
    maxAttempts: config.MAX_ATTEMPTS,
    retryBaseMs: config.RETRY_BASE_MS,
    retryMaxMs: config.RETRY_MAX_MS,
    pollIntervalMs: config.POLL_INTERVAL_MS,
    log,
  })
  return {
    config,
    db,
    users: createUsersRepository(db),
    queue,
    mail,
    dispatcher,
    async close() {
      await dispatcher.stop(config.SHUTDOWN_GRACE_MS)
      mail.close()
      db.close()
    },
  }
}

function mailDomain(from: string): string {
  return from.match(/@([A-Za-z0-9.-]+)/)?.[1] ?? 'deckhand.local'
}
