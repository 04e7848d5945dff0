import { monitorEventLoopDelay, performance } from 'node:perf_hooks'

/*
 * The suite's bound on event-loop delay: it catches work on the event loop that belongs elsewhere (an image
 * rendered on the main thread stalls it 100–300 ms a job; an unbatched delete of 100,000 rows, seconds), with
 * room for the noise of a shared 2-core machine, where a correct build measured p99s up to 53 ms while other
 * tenants ran. How low the delay really is, is measured by `npm run bench` (phase 4) against the figure its
 * issue names, not here.
 */
export const EVENT_LOOP_P99_LIMIT_MS = 100
const RESOLUTION_MS = 10

/** Samples the event loop's delay from now until the returned function is called, which gives p99 and max in ms. */
export function watchEventLoop(): () => { p99: number; max: number; busy: number; text: string } {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  const utilization = performance.eventLoopUtilization()
  return () => {
    histogram.disable()
    const busy = performance.eventLoopUtilization(utilization).utilization
    // Each sample includes the timer's own resolution, which is not delay.
    const p99 = histogram.percentile(99) / 1e6 - RESOLUTION_MS
    const max = histogram.max / 1e6 - RESOLUTION_MS
    return {
      p99,
      max,
      busy,
      text: `event-loop delay p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms; busy ${(busy * 100).toFixed(0)}%`,
    }
  }
}
