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
