/** One chart's figures at one instant: series name → value (null: not known then). */
export type ChartValues = Record<string, number | null>

/** Everything the dashboard draws for one second, by chart. */
export interface Sample {
  /** Epoch ms. */
  t: number
  /** By chart id; a chart missing from a sample is a gap (the sampler had just started, or a read failed). */
  charts: Record<string, ChartValues>
  /** With DASHBOARD_WORKER_URLS: each worker's host, and `ok` or why its GET /metrics could not be read. */
  workers?: Record<string, string> | undefined
}

/** The charts a sample may carry, in the order the page draws them. */
export const CHART_IDS = [
  'requests',
  'latency',
  'loop',
  'jobs',
  'finished',
  'queueLatency',
  'pool',
  'mails',
  'rss',
] as const
