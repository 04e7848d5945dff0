import client from 'prom-client'
import type { Database } from './db/database.ts'
import { ErrorSource } from './error-events.ts'
import { type EventLoopWindow, eventLoopWindow } from './event-loop-window.ts'
import type { ImagePool } from './images/pool.ts'
import type { JobWaiters } from './jobs/job-waiters.ts'
import type { AttemptOutcome, FinishedStatus, Job, JobStore } from './jobs/types.ts'

export interface Metrics {
  registry: client.Registry
  /** The event loop's delay over the last full second, for every reader (the gauge, the dashboard). */
  eventLoop: EventLoopWindow
  observeRequest(method: string, route: string, status: number, seconds: number): void
  observeJob(job: Job, outcome: AttemptOutcome, ms: number): void
  /** Finished jobs deleted by the retention sweep. */
  observeJobsSwept(status: FinishedStatus, count: number): void
  /** Files and folders the orphan sweep removed: `incoming`, `original` or `version`. */
  observeFilesSwept(what: string, count: number): void
  /** One webhook delivery attempt's outcome (see WEBHOOK_OUTCOMES). */
  observeWebhookDelivery(outcome: WebhookOutcome): void
  /** Stops what measures on a timer (the event-loop window). */
  close(): void
}

/**
 * What one webhook delivery attempt came to: a 2xx; an error worth retrying (429, 5xx, a redirect, a timeout, no
 * connection); a 4xx that is final; a 410 (the webhook removed); refused by the SSRF guard before connecting.
 */
export const WEBHOOK_OUTCOMES = ['delivered', 'error', 'rejected', 'gone', 'refused'] as const
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number]

/** `deckhand_errors_total{source}`: 'error' events, counted from before the parts that emit them exist. */
export interface ErrorCounter {
  count(source: ErrorSource): void
  readonly metric: client.Counter<'source'>
}

/** The error counter, registered by `createMetrics`; made first, so the pool and the clients can count from birth. */
export function createErrorCounter(): ErrorCounter {
  const metric = new client.Counter({
    name: 'deckhand_errors_total',
    help: "'error' events from the pool, worker threads, Redis, PostgreSQL, the mail transport and file streams",
    labelNames: ['source'],
    registers: [],
  })
  // Every source shows from the start at 0: an alert on an increase needs a series that exists before it.
  for (const source of Object.values(ErrorSource)) metric.inc({ source }, 0)
  return { count: (source) => metric.inc({ source }), metric }
}

/**
 * Prometheus metrics (prom-client). Gauges that describe state (journal depth, pool, peak RSS) are read at
 * scrape time, so the hot paths pay only for the histograms and counters.
 */
export function createMetrics(sources: {
  queue: JobStore
  pool: ImagePool | undefined
  database: Database
  waiters: JobWaiters
  /** Uploads being received now (avatars/upload-slots.ts); read, never changed, so metrics.ts names no feature. */
  uploads: { readonly inFlight: number }
  errors: ErrorCounter
  /** Every job kind, so that each has a queue latency from the first scrape on (0 while nothing waits). */
  kinds: readonly string[]
  /** The kinds whose attempts are mail sends (deckhand_mail_attempts_total). */
  mailKinds: readonly string[]
}): Metrics {
  const registry = new client.Registry()
  const mailKinds = new Set(sources.mailKinds)
  registry.registerMetric(sources.errors.metric)
  // Includes nodejs_eventloop_lag_p50/p90/p99_seconds, from monitorEventLoopDelay at 10 ms resolution and
  // reset at every scrape: each scrape reports the interval since the one before.
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 })

  const http = new client.Histogram({
    name: 'deckhand_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status'],
    // Fine below 250 ms, where most answers fall: a quantile read from buckets is only as fine as they are, and
    // 25/50/100 alone made a p99 jump from edge to edge. Buckets may be added here, never removed (scrapers).
    buckets: [
      0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1,
      2.5,
    ],
    registers: [registry],
  })
  const jobs = new client.Histogram({
    name: 'deckhand_job_duration_seconds',
    help: 'Duration of job attempts by kind and outcome',
    labelNames: ['kind', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  })
  const mail = new client.Counter({
    name: 'deckhand_mail_attempts_total',
    help: 'Mail send attempts by outcome: succeeded, retry (will try again), failed (gave up)',
    labelNames: ['kind', 'outcome'],
    registers: [registry],
  })
  const jobsSwept = new client.Counter({
    name: 'deckhand_jobs_swept_total',
    help: 'Finished jobs deleted by the retention sweep, by status',
    labelNames: ['status'],
    registers: [registry],
  })
  const filesSwept = new client.Counter({
    name: 'deckhand_files_swept_total',
    help: 'Files no job or avatar pointed to, removed by the orphan sweep: incoming, original, version (folders)',
    labelNames: ['what'],
    registers: [registry],
  })
  const webhooks = new client.Counter({
    name: 'deckhand_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome: delivered, error (retried), rejected (4xx), gone (410), refused (SSRF)',
    labelNames: ['outcome'],
    registers: [registry],
  })
  for (const outcome of WEBHOOK_OUTCOMES) webhooks.inc({ outcome }, 0)
  new client.Gauge({
    name: 'deckhand_jobs',
    help: 'Jobs in the journal by kind and status',
    labelNames: ['kind', 'status'],
    registers: [registry],
    async collect() {
      const depth = await sources.queue.depth()
      this.reset()
      for (const { kind, status, count } of depth) this.set({ kind, status }, count)
    },
  })
  new client.Gauge({
    name: 'deckhand_job_queue_latency_seconds',
    help: 'Age of the oldest job of each kind that is due and still waiting to run (0 when none waits)',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const now = Date.now()
      const oldest = await sources.queue.oldestDue(now)
      this.reset()
      for (const kind of sources.kinds) this.set({ kind }, 0)
      for (const { kind, dueSince } of oldest) this.set({ kind }, Math.max(0, now - dueSince) / 1000)
    },
  })
  new client.Gauge({
    name: 'deckhand_pool_utilization_ratio',
    help: 'Share of time the image worker threads were busy since the pool started (0-1)',
    registers: [registry],
    collect() {
      this.set(sources.pool?.stats().utilization ?? 0)
    },
  })
  new client.Gauge({
    name: 'deckhand_pool_queue_size',
    help: 'Tasks waiting inside the image pool',
    registers: [registry],
    collect() {
      this.set(sources.pool?.stats().queued ?? 0)
    },
  })
  new client.Gauge({
    name: 'deckhand_pool_threads',
    help: 'Configured image worker threads',
    registers: [registry],
    collect() {
      this.set(sources.pool?.threads ?? 0)
    },
  })
  new client.Gauge({
    name: 'deckhand_pool_threads_busy',
    help: 'Image worker threads running a task now',
    registers: [registry],
    collect() {
      this.set(sources.pool?.stats().busy ?? 0)
    },
  })
  new client.Gauge({
    name: 'deckhand_pool_threads_alive',
    help: 'Image worker threads alive now: below deckhand_pool_threads for a moment after a thread dies',
    registers: [registry],
    collect() {
      this.set(sources.pool?.stats().alive ?? 0)
    },
  })
  new client.Gauge({
    name: 'deckhand_job_waiters',
    help: 'Requests waiting for their job to finish (GET /jobs/:id with Prefer: wait) and open job event streams',
    registers: [registry],
    collect() {
      this.set(sources.waiters.size)
    },
  })
  // Counters kept by the database itself, read at scrape time (prom-client gauges, as they are not incremented here).
  new client.Gauge({
    name: 'deckhand_db_durable_waits_total',
    help: 'Commits that waited to be on disk before their answer (SQLite, SQLITE_SYNCHRONOUS=FULL)',
    registers: [registry],
    collect() {
      this.set(sources.database.syncStats?.().requested ?? 0)
    },
  })
  new client.Gauge({
    name: 'deckhand_db_fsyncs_total',
    help: 'fsyncs of the SQLite WAL that served them: fewer than the waits when commits arrive together',
    registers: [registry],
    collect() {
      this.set(sources.database.syncStats?.().fsyncs ?? 0)
    },
  })
  const fsync = new client.Histogram({
    name: 'deckhand_db_fsync_duration_seconds',
    help: 'Each WAL fsync as the commits it served waited for it (SQLite, SQLITE_SYNCHRONOUS=FULL)',
    // Under a millisecond on a quiet disk; a stall of tens of milliseconds holds every acceptance behind it.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  sources.database.onFsync?.((seconds) => fsync.observe(seconds))
  new client.Gauge({
    name: 'deckhand_uploads_in_flight',
    help: 'Avatar uploads being received now (they count against MAX_PENDING_JOBS)',
    registers: [registry],
    collect() {
      this.set(sources.uploads.inFlight)
    },
  })
  const loop = eventLoopWindow()
  new client.Gauge({
    name: 'deckhand_event_loop_delay_seconds',
    help: 'Event-loop delay (how late a 5 ms timer fired) over the last full second, by stat (p50, p99, max); not reset by scrapes',
    labelNames: ['stat'],
    registers: [registry],
    collect() {
      this.set({ stat: 'p50' }, loop.last.p50Ms / 1000)
      this.set({ stat: 'p99' }, loop.last.p99Ms / 1000)
      this.set({ stat: 'max' }, loop.last.maxMs / 1000)
    },
  })
  new client.Gauge({
    name: 'deckhand_process_max_rss_bytes',
    help: 'Peak resident set size of the process since it started',
    registers: [registry],
    collect() {
      this.set(process.resourceUsage().maxRSS * 1024)
    },
  })

  return {
    registry,
    eventLoop: loop,
    observeRequest(method, route, status, seconds) {
      http.observe({ method, route, status: String(status) }, seconds)
    },
    observeJob(job, outcome, ms) {
      jobs.observe({ kind: job.kind, outcome }, ms / 1000)
      if (mailKinds.has(job.kind)) mail.inc({ kind: job.kind, outcome })
    },
    observeJobsSwept(status, count) {
      jobsSwept.inc({ status }, count)
    },
    observeFilesSwept(what, count) {
      filesSwept.inc({ what }, count)
    },
    observeWebhookDelivery(outcome) {
      webhooks.inc({ outcome })
    },
    close: loop.close,
  }
}
