import type client from 'prom-client'
import type { EventLoopWindow } from '../event-loop-window.ts'
import type { ImagePool } from '../images/pool.ts'
import type { JobStore } from '../jobs/types.ts'
import { type Buckets, bucketQuantile } from './quantile.ts'
import type { ChartValues, Sample } from './sample.ts'
import { readWorker, type WorkerFigures } from './worker-metrics.ts'

type Value = { labels: Record<string, string | number | undefined>; value: number; metricName?: string }

/** Cumulative figures read from prom-client at one instant; the next read turns them into rates. */
interface Totals {
  t: number
  requests: Map<string, number>
  latency: Map<number, number>
  finished: Map<string, number>
  mails: number
  /** By worker host: its figures, or why they could not be read. */
  workers: Map<string, WorkerFigures | string>
}

export interface ReadingsSources {
  registry: client.Registry
  /** The event loop's delay over the last full second (metrics.ts keeps it for every reader). */
  eventLoop: EventLoopWindow
  queue: JobStore
  pool: ImagePool | undefined
  /** Workers (QUEUE=bullmq) whose GET /metrics is read with each sample: their own jobs, mails, pool and RSS. */
  workers?: { urls: readonly string[]; token: string | undefined; timeoutMs: number }
  /** A failed read of the queue (Redis away): logged, the charts that need it left out of that sample. */
  onError(err: unknown): void
}

export interface Readings {
  /**
   * One sample. `watched` (a page is open): everything; otherwise only what the process already holds in memory
   * (counters, histograms, RSS, pool, event loop), with no query of the queue and no call to a worker.
   */
  read(now: number, watched: boolean): Promise<Sample>
}

async function values(registry: client.Registry, name: string): Promise<Value[]> {
  const metric = registry.getSingleMetric(name)
  return metric ? ((await metric.get()).values as Value[]) : []
}

/**
 * The dashboard's own routes (page, assets, job polls, the stream): left out of the requests and the latency, or
 * the page would chart its own polling; the stream's duration is how long a page stayed open, not a latency.
 */
const isDashboardRoute = (route: unknown) => typeof route === 'string' && route.startsWith('/dashboard')

/** The series every 4xx and 5xx answer also counts in, whatever its route. */
export const ERRORS_SERIES = 'errors (4xx, 5xx)'

const add = (map: Map<string, number>, key: string, by: number) => map.set(key, (map.get(key) ?? 0) + by)

/**
 * The service's own measurements, read from the prom-client registry it already keeps for /metrics (so the
 * request path pays nothing more) plus the queue, the pool and the process; rates are the change since the
 * read before.
 */
export function createReadings(sources: ReadingsSources): Readings {
  let last: Totals | undefined

  async function totals(t: number, watched: boolean): Promise<Totals> {
    const requests = new Map<string, number>()
    const latency = new Map<number, number>()
    for (const v of await values(sources.registry, 'deckhand_http_request_duration_seconds')) {
      const { method, route, status, le } = v.labels
      if (isDashboardRoute(route)) continue
      if (v.metricName?.endsWith('_count')) {
        // One series a route, whatever its status (a legend of route × class was taller than its plot), and the
        // errors of every route as one more.
        add(requests, route === 'unmatched' ? 'unmatched' : `${method} ${route}`, v.value)
        if (Number(status) >= 400) add(requests, ERRORS_SERIES, v.value)
      } else if (v.metricName?.endsWith('_bucket')) {
        const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le)
        latency.set(bound, (latency.get(bound) ?? 0) + v.value)
      }
    }
    const finished = new Map<string, number>()
    for (const v of await values(sources.registry, 'deckhand_job_duration_seconds')) {
      if (v.metricName?.endsWith('_count') && v.labels.outcome !== 'interrupted') {
        add(finished, `${v.labels.kind} ${v.labels.outcome}`, v.value)
      }
    }
    let mails = 0
    for (const v of await values(sources.registry, 'deckhand_mail_attempts_total')) {
      if (v.labels.outcome === 'succeeded') mails += v.value
    }
    return { t, requests, latency, finished, mails, workers: watched ? await workerTotals() : new Map() }
  }

  async function workerTotals(): Promise<Map<string, WorkerFigures | string>> {
    const { urls = [], token, timeoutMs = 1000 } = sources.workers ?? {}
    const read = await Promise.all(
      urls.map(async (url) => {
        try {
          return [new URL(url).host, await readWorker(url, token, timeoutMs)] as const
        } catch (err) {
          return [new URL(url).host, (err as Error).message] as const
        }
      }),
    )
    return new Map<string, WorkerFigures | string>(read)
  }

  /** Each reachable worker's gauges as series of their own, named `… @host`, beside this process's. */
  function addWorkerGauges(charts: Record<string, ChartValues>, now: Totals) {
    for (const [host, figures] of now.workers) {
      if (typeof figures === 'string') continue
      charts.rss = { ...charts.rss, [`MiB @${host}`]: figures.rssBytes / 2 ** 20 }
      charts.pool = { ...charts.pool, [`busy @${host}`]: figures.poolBusy, [`threads @${host}`]: figures.poolThreads }
    }
  }

  /** Each worker's rates, where it was read this time and the time before. */
  function addWorkerRates(charts: Record<string, ChartValues>, now: Totals, before: Totals, seconds: number) {
    for (const [host, figures] of now.workers) {
      const was = before.workers.get(host)
      if (typeof figures === 'string' || typeof was !== 'object') continue
      for (const [key, value] of Object.entries(rates(figures.finished, was.finished, seconds))) {
        charts.finished = { ...charts.finished, [`${key} @${host}`]: value }
      }
      charts.mails = { ...charts.mails, [`sent @${host}`]: Math.max(0, figures.mails - was.mails) / seconds }
    }
  }

  function workerStates(now: Totals): Record<string, string> | undefined {
    if (now.workers.size === 0) return undefined
    return Object.fromEntries([...now.workers].map(([host, f]) => [host, typeof f === 'string' ? f : 'ok']))
  }

  function rates(now: Map<string, number>, before: Map<string, number>, seconds: number): ChartValues {
    const out: ChartValues = {}
    for (const [key, value] of now) out[key] = Math.max(0, value - (before.get(key) ?? 0)) / seconds
    return out
  }

  function latencyQuantiles(now: Totals, before: Totals): ChartValues {
    const buckets: Buckets = [...now.latency]
      .sort((a, b) => a[0] - b[0])
      .map(([le, count]) => [le, count - (before.latency.get(le) ?? 0)] as const)
    const ms = (q: number) => {
      const s = bucketQuantile(q, buckets)
      return s === null ? null : s * 1000
    }
    return { p50: ms(0.5), p99: ms(0.99) }
  }

  async function queueCharts(now: number): Promise<Record<string, ChartValues>> {
    try {
      const [depth, oldest] = await Promise.all([sources.queue.depth(), sources.queue.oldestDue(now)])
      const jobs: ChartValues = {}
      const queueLatency: ChartValues = {}
      // Every kind the queue knows gets both lines, at 0 when nothing is in that state: a gap would mean unknown.
      for (const { kind } of depth) {
        jobs[`${kind} queued`] = 0
        jobs[`${kind} running`] = 0
        queueLatency[kind] = 0
      }
      for (const { kind, status, count } of depth) {
        if (status === 'queued' || status === 'running') jobs[`${kind} ${status}`] = count
      }
      for (const { kind, dueSince } of oldest) queueLatency[kind] = Math.max(0, now - dueSince) / 1000
      return { jobs, queueLatency }
    } catch (err) {
      sources.onError(err)
      return {}
    }
  }

  // Not prom-client's event-loop histogram: it restarts at every /metrics scrape, and reading it every second would
  // steal Prometheus's intervals.
  function loopChart(): ChartValues {
    const { p50Ms, p99Ms, maxMs } = sources.eventLoop.last
    return { p50: p50Ms, p99: p99Ms, max: maxMs }
  }

  return {
    async read(now, watched) {
      const [current, queue] = await Promise.all([totals(now, watched), watched ? queueCharts(now) : {}])
      const before = last
      last = current
      const charts: Record<string, ChartValues> = {
        ...queue,
        rss: { MiB: process.memoryUsage.rss() / 2 ** 20 },
      }
      const pool = sources.pool?.stats()
      if (pool && sources.pool) charts.pool = { busy: pool.busy, threads: sources.pool.threads, waiting: pool.queued }
      const workers = workerStates(current)
      addWorkerGauges(charts, current)
      if (!before) return { t: now, charts, workers }
      const seconds = Math.max(0.001, (current.t - before.t) / 1000)
      charts.requests = rates(current.requests, before.requests, seconds)
      charts.latency = latencyQuantiles(current, before)
      charts.finished = rates(current.finished, before.finished, seconds)
      charts.mails = { sent: Math.max(0, current.mails - before.mails) / seconds }
      charts.loop = loopChart()
      addWorkerRates(charts, current, before, seconds)
      return { t: now, charts, workers }
    },
  }
}
