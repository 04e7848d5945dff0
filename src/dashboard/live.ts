import type { SSEReplyInterface } from '@fastify/sse'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.ts'
import { createReadings, type ReadingsSources } from './readings.ts'
import { Sampler } from './sampler.ts'

/**
 * What the live side reads of the process's parts: named here so that dashboard/ needs nothing of parts.ts, the
 * composition root that assembles it.
 */
export interface LiveSources {
  /** The process's role (`all`, `api`, `worker`). */
  role: string
  config: Pick<Config, 'QUEUE' | 'DASHBOARD_WORKER_URLS' | 'METRICS_TOKEN' | 'DEPENDENCY_TIMEOUT_MS' | 'ADMIN_TOKEN'>
  metrics: Pick<ReadingsSources, 'registry' | 'eventLoop'>
  queue: ReadingsSources['queue']
  pool: ReadingsSources['pool']
}

/** What the page is told first: which of its numbers are this process's alone. */
export interface Scope {
  role: LiveSources['role']
  queue: Config['QUEUE']
  note: string
}

function workerUrls(services: LiveSources): string[] {
  return services.config.DASHBOARD_WORKER_URLS?.split(',') ?? []
}

function scopeOf(services: LiveSources): Scope {
  const { role } = services
  const queue = services.config.QUEUE
  if (queue === 'journal') {
    return { role, queue, note: 'Every number is this process’s: it answers the requests and runs the jobs.' }
  }
  const here =
    role === 'api'
      ? 'This api runs no jobs: its own jobs finished and mails stay at 0, and it has no pool. Requests, event loop and RSS are this api’s.'
      : 'Requests, jobs finished, mails, pool, event loop and RSS without a host are this process’s.'
  const workers = workerUrls(services).length
    ? 'Series marked @host are that worker’s, read from its GET /metrics each second (not its event-loop delay: ' +
      'reading that would reset the histogram Prometheus scrapes).'
    : 'Other workers’ numbers are not shown: set DASHBOARD_WORKER_URLS to their http://host:PORT to read their ' +
      'GET /metrics here.'
  return {
    role,
    queue,
    note: `Jobs queued and running and queue latency are across all workers (Redis). ${here} ${workers}`,
  }
}

/** How often an open stream looks its session up again, to end on a logout: one primary-key read a page. */
const SESSION_CHECK_MS = 5000

/** The dashboard's live side: one sampler for the process, fanned out to every open stream. */
export function createLiveDashboard(services: LiveSources, log: FastifyBaseLogger) {
  const onError = (err: unknown) => log.warn({ err }, 'dashboard sample failed')
  const sampler = new Sampler(
    createReadings({
      registry: services.metrics.registry,
      eventLoop: services.metrics.eventLoop,
      queue: services.queue,
      pool: services.pool,
      workers: {
        urls: workerUrls(services),
        token: services.config.METRICS_TOKEN,
        // Within the second, so that a silent worker costs its own series and not the whole sample.
        timeoutMs: Math.min(services.config.DEPENDENCY_TIMEOUT_MS, 900),
      },
      onError,
    }),
    { intervalMs: 1000, keep: 600, onError },
  )
  // Only where a page can be opened: with ADMIN_TOKEN unset nobody would ever read the ring.
  if (services.config.ADMIN_TOKEN !== undefined) sampler.start()
  const scope = scopeOf(services)
  const open = new Set<SSEReplyInterface>()

  return {
    sampler,
    /**
     * Streams samples to one page until it goes away or its session ends: first the scope and what was kept, then
     * each new one.
     */
    async stream(
      sse: SSEReplyInterface,
      sessionEndsAt: number,
      sessionOpen: () => Promise<boolean> = async () => true,
    ): Promise<void> {
      sse.keepAlive()
      open.add(sse)
      // The session's end ends its stream too: an open page must not outlive the login that opened it.
      const expiry = setTimeout(() => sse.close(), Math.max(0, sessionEndsAt - Date.now()))
      expiry.unref()
      // So does a logout, on whichever api it came: the session is looked up again now and then.
      const revocation = setInterval(() => {
        sessionOpen().then(
          (yes) => yes || sse.close(),
          () => {},
        )
      }, SESSION_CHECK_MS)
      revocation.unref()
      await sse.send({ event: 'scope', data: scope })
      await sse.send({ event: 'history', data: sampler.samples })
      let sending = false
      const unsubscribe = sampler.subscribe((sample) => {
        // A page that cannot keep up (its last sample not yet written out) skips this one rather than having
        // samples pile up in memory here.
        if (sending || !sse.isConnected) return
        sending = true
        sse
          .send({ event: 'sample', data: sample })
          .catch(() => {})
          .finally(() => {
            sending = false
          })
      })
      sse.onClose(() => {
        clearTimeout(expiry)
        clearInterval(revocation)
        open.delete(sse)
        unsubscribe()
      })
    },
    /** On shutdown: streams never end by themselves, and close() would wait on them for ever. */
    close(): void {
      for (const sse of open) sse.close()
      open.clear()
      sampler.stop()
    },
  }
}
