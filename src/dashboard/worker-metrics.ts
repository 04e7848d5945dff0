import { parsePrometheusText } from '../prometheus-text.ts'

/** What the dashboard draws of one worker, read from its GET /metrics: counters cumulative, the rest gauges. */
export interface WorkerFigures {
  /** `kind outcome` → attempts finished so far. */
  finished: Map<string, number>
  mails: number
  rssBytes: number
  poolBusy: number
  poolThreads: number
}

const WANTED = new Set([
  'deckhand_job_duration_seconds_count',
  'deckhand_mail_attempts_total',
  'process_resident_memory_bytes',
  'deckhand_pool_threads_busy',
  'deckhand_pool_threads',
])

/** The figures in one worker's metrics text. */
export function workerFigures(text: string): WorkerFigures {
  const figures: WorkerFigures = { finished: new Map(), mails: 0, rssBytes: 0, poolBusy: 0, poolThreads: 0 }
  for (const { name, labels, value } of parsePrometheusText(text, WANTED)) {
    if (name === 'deckhand_job_duration_seconds_count' && labels.outcome !== 'interrupted') {
      const key = `${labels.kind} ${labels.outcome}`
      figures.finished.set(key, (figures.finished.get(key) ?? 0) + value)
    } else if (name === 'deckhand_mail_attempts_total' && labels.outcome === 'succeeded') figures.mails += value
    else if (name === 'process_resident_memory_bytes') figures.rssBytes = value
    else if (name === 'deckhand_pool_threads_busy') figures.poolBusy = value
    else if (name === 'deckhand_pool_threads') figures.poolThreads = value
  }
  return figures
}

/** The families read, by name: a full scrape would restart prom-client's event-loop histogram (see readWorker). */
const FAMILIES = [
  'deckhand_job_duration_seconds',
  'deckhand_mail_attempts_total',
  'process_resident_memory_bytes',
  'deckhand_pool_threads_busy',
  'deckhand_pool_threads',
]
const query = FAMILIES.map((name) => `name=${name}`).join('&')

/**
 * One worker's GET /metrics, within `timeoutMs`, only the families drawn (`?name=`): a full scrape collects
 * nodejs_eventloop_lag_seconds, which restarts prom-client's event-loop histogram, and doing that every second
 * here would leave Prometheus a second's worth of the worker's event-loop delay.
 */
export async function readWorker(url: string, token: string | undefined, timeoutMs: number): Promise<WorkerFigures> {
  const res = await fetch(new URL(`/metrics?${query}`, url), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(timeoutMs),
  })
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`)
  return workerFigures(await res.text())
}
