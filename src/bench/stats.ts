import { parsePrometheusText } from '../prometheus-text.ts'

/** The p-th percentile (0–100) of `values`, nearest-rank; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] as number
}

export const median = (values: readonly number[]) => percentile(values, 50)

/** Reads one sample of a metric from Prometheus' text format, e.g. `nodejs_eventloop_lag_p99_seconds`. */
export function metricValue(text: string, name: string): number {
  // A name with labels must match them exactly; a bare name takes the first sample of that metric.
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name} `) || (!name.includes('{') && l.startsWith(`${name}{`)))
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN
}

/**
 * Completions per second once the work is flowing: the first `warm` completions (the ramp, while the first
 * uploads travel and the first jobs start) are left out, and the rate runs from the warm-th completion to the
 * last. NaN when fewer than warm + 2 completions were seen.
 */
export function steadyRate(finishedAt: readonly number[], warm: number): number {
  const sorted = [...finishedAt].sort((a, b) => a - b)
  const from = sorted[warm]
  const to = sorted.at(-1)
  if (sorted.length < warm + 2 || from === undefined || to === undefined || to <= from) return Number.NaN
  return (sorted.length - 1 - warm) / ((to - from) / 1000)
}

/**
 * The sum of every sample of a metric whose labels include all of `labels`, e.g. `deckhand_jobs` with
 * `{ status: 'queued' }` summed over its kinds. 0 when none matches: a gauge with no sample has nothing in it.
 */
export function metricSum(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  const wanted = Object.entries(labels)
  return parsePrometheusText(text, new Set([name]))
    .filter((sample) => wanted.every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0)
}

/**
 * Least-squares slope of `ys` over `xs` (units of y per unit of x): how fast a soak's figure drifts, less
 * swayed by one noisy sample than the difference of the first and last. NaN with fewer than two distinct xs.
 */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length)
  if (n < 2) return Number.NaN
  let sx = 0
  let sy = 0
  for (let i = 0; i < n; i++) {
    sx += xs[i] as number
    sy += ys[i] as number
  }
  const mx = sx / n
  const my = sy / n
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx
    sxy += dx * ((ys[i] as number) - my)
    sxx += dx * dx
  }
  return sxx === 0 ? Number.NaN : sxy / sxx
}
