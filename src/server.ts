#!/usr/bin/env node
import { buildApp, startJobs } from './app.ts'
import { type Config, ConfigError, loadConfig } from './config.ts'
import { createLogger } from './logger.ts'
import type { Role } from './parts.ts'
import { StartupError } from './startup-error.ts'
import { startupNotes } from './startup-notes.ts'

/*
 * `deckhand` (or `npm start`): HTTP and jobs in one process, on embedded defaults.
 * `deckhand api`: HTTP only; `deckhand worker`: jobs only (and its health and metrics over HTTP). Those two share
 * work through QUEUE=bullmq. What a role is made of (src/parts.ts): every role opens the database, the queue, the
 * store, the metrics and the sweeps; `api` adds the routes and the waits on jobs; `worker` the image pool, the mail
 * transport and the runner of every job kind's lane; `all` both.
 */
const ROLES: Record<string, Role> = { all: 'all', api: 'api', worker: 'worker' }
const arg = process.argv[2] ?? 'all'
const role = ROLES[arg]

let config: Config
try {
  if (!role) throw new ConfigError(`unknown command "${arg}": use api, worker or nothing (all in one process)`)
  config = loadConfig()
  if (role !== 'all' && config.QUEUE !== 'bullmq') {
    throw new ConfigError(
      `"${role}" shares work with other processes, which the local journal cannot: set QUEUE=bullmq and REDIS_URL`,
    )
  }
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`deckhand: ${err.message}`)
  process.exit(1)
}

const log = createLogger(config)

/*
 * An exception nobody caught, or a rejection nobody handled, leaves the process in a state nobody knows: log it
 * and exit 1, as Node's documentation advises, for the supervisor to restart a clean process. Nothing accepted is
 * lost: every acknowledged job is in the journal (or the outbox, or Redis) and runs again after the restart, as
 * after a crash. pino writes stdout asynchronously and flushes it synchronously on exit, so the line gets out.
 */
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err: unknown) => {
    log.fatal({ err, event }, `${event}: exiting, as the process state is unknown; accepted work runs after a restart`)
    process.exit(1)
  })
}

/** Ends a start that cannot go on for a reason the operator must put right: one line, exit 1. */
function refuse(message: string): never {
  console.error(`deckhand: ${message}`)
  process.exit(1)
}

// Every role listens: a worker serves only /healthz, /readyz and /metrics, for its orchestrator and Prometheus.
const app = await buildApp(config, { role, logger: log, deferJobs: true }).catch((err: unknown) => {
  if (err instanceof StartupError) refuse(err.message)
  throw err
})
try {
  await app.listen({ port: config.PORT, host: config.HOST })
} catch (err) {
  const code = (err as NodeJS.ErrnoException).code
  // No job has started yet (they start below, once bound): exiting leaves the journal as it was.
  if (code === 'EADDRINUSE') refuse(`port ${config.PORT} on ${config.HOST} is in use: another process listens there`)
  if (code === 'EACCES') refuse(`port ${config.PORT} on ${config.HOST} is not allowed to this user`)
  if (code === 'EADDRNOTAVAIL') refuse(`HOST=${config.HOST} is no address of this machine`)
  throw err
}
for (const note of startupNotes(config, role, app.listeningOrigin)) log[note.level](note.msg)
await startJobs(app)
const stop = () => app.close()

let closing = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (closing) return
    closing = true
    log.info({ signal }, 'shutting down: no new work taken, running jobs get the grace period')
    // Should closing itself hang (a socket that never drains), leave anyway: queued work is durable.
    setTimeout(() => {
      log.error('shutdown took too long; exiting')
      process.exit(1)
    }, config.SHUTDOWN_GRACE_MS + 5000).unref()
    stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'error while shutting down')
        process.exit(1)
      },
    )
  })
}
