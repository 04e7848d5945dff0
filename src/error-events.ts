import type { Logger } from 'pino'

/*
 * An EventEmitter that emits 'error' with no listener throws it, and the process dies. Each one deckhand owns
 * (the image pool, worker threads, Redis and PostgreSQL clients, the mail transport, file streams) gets its
 * listener here: logged with context and counted, so a fault outside any request or job is seen, never fatal.
 */

/** Where an 'error' event came from: the `source` label of `deckhand_errors_total`. */
export const ErrorSource = {
  /** The Piscina pool: an image worker thread died with no task to fail (idle, or while starting up). */
  pool: 'pool',
  /** A worker thread of deckhand's own (the SQLite WAL fsync thread). */
  worker: 'worker',
  /** An ioredis connection under a BullMQ queue, worker or event stream. */
  redis: 'redis',
  /** The PostgreSQL pool: an idle connection that dropped. */
  pg: 'pg',
  /** nodemailer's pooled SMTP transport. */
  mail: 'mail',
  /** A file stream (an avatar file being served). */
  stream: 'stream',
} as const
export type ErrorSource = (typeof ErrorSource)[keyof typeof ErrorSource]

/** Anything that emits 'error': Node's EventEmitters, Piscina, BullMQ, pg, nodemailer. */
export interface ErrorEmitter {
  on(event: 'error', listener: (err: Error) => void): unknown
}

/** Gives `emitter` its 'error' listener; `context` goes on the log line (a job kind, a file). */
export type WatchErrors = (emitter: ErrorEmitter, source: ErrorSource, context?: Record<string, unknown>) => void

/** A WatchErrors that logs to `log` and counts each error by its source. */
export function errorWatcher(log: Logger, count: (source: ErrorSource) => void): WatchErrors {
  return (emitter, source, context = {}) => {
    emitter.on('error', (err) => {
      count(source)
      log.error({ err, source, ...context }, `error event from ${source}; the service carries on`)
    })
  }
}
