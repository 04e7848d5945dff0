import { monitorEventLoopDelay } from 'node:perf_hooks'

/** The event loop's delay over the last full window: p50, p99 and max, in milliseconds. */
export interface EventLoopWindow {
  readonly last: { p50Ms: number; p99Ms: number; maxMs: number }
  close(): void
}

/**
 * How often the delay is sampled. monitorEventLoopDelay records the whole time between its timer's runs, so an idle
 * loop reads as this much delay; it is taken off every figure. Finer would see shorter stalls, at a wake-up each.
 */
export const EVENT_LOOP_RESOLUTION_MS = 5

/**
 * Event-loop delay measured in fixed windows (one second by default): how late the timer fired beyond its own
 * interval, so an idle loop reads about 0. prom-client's nodejs_eventloop_lag_* restart at every scrape, so a second
 * reader (the dashboard, the bench's timeline, a second Prometheus) would cut the first one's interval short; a
 * window of its own is the same for every reader.
 */
export function eventLoopWindow(windowMs = 1000): EventLoopWindow {
  const histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
  histogram.enable()
  const late = (ns: number) => Math.max(0, ns / 1e6 - EVENT_LOOP_RESOLUTION_MS)
  let last = { p50Ms: 0, p99Ms: 0, maxMs: 0 }
  const timer = setInterval(() => {
    last = { p50Ms: late(histogram.percentile(50)), p99Ms: late(histogram.percentile(99)), maxMs: late(histogram.max) }
    histogram.reset()
  }, windowMs)
  timer.unref()
  return {
    get last() {
      return last
    },
    close() {
      clearInterval(timer)
      histogram.disable()
    },
  }
}
