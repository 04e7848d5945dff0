import { monitorEventLoopDelay } from 'node:perf_hooks'

/** The event loop's delay over the last full window: p50, p99 and max, in milliseconds. */
export interface EventLoopWindow {
  readonly last: { p50Ms: number; p99Ms: number; maxMs: number }
  close(): void
}

/**
 * Event-loop delay measured in fixed windows (one second by default) at 10 ms resolution. prom-client's
 * nodejs_eventloop_lag_* restart at every scrape, so a second reader (the dashboard, the bench's timeline, a second
 * Prometheus) would cut the first one's interval short; a window of its own is the same for every reader.
 */
export function eventLoopWindow(windowMs = 1000): EventLoopWindow {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  let last = { p50Ms: 0, p99Ms: 0, maxMs: 0 }
  const timer = setInterval(() => {
    last = {
      p50Ms: histogram.percentile(50) / 1e6,
      p99Ms: histogram.percentile(99) / 1e6,
      maxMs: histogram.max / 1e6,
    }
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
