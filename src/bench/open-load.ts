import { performance } from 'node:perf_hooks'
import { Pool } from 'undici'
import { percentile } from './stats.ts'

export interface OpenLoadOptions {
  /** The service's origin, `http://host:port`. */
  origin: string
  path: string
  headers: Record<string, string>
  /** The body of the i-th request. */
  body: (i: number) => string
  /** Requests a second, one every 1/rate seconds. */
  rate: number
  durationMs: number
  /** Connections the requests share; a request due while all are busy waits for one, on its clock. */
  connections: number
  /** Each answer's time, from when its request was due. */
  onAnswer?: (ms: number) => void
}

export interface OpenLoadResult {
  /** Answers with a 2xx status. */
  ok: number
  /** Answers with any other status, and requests that got no answer. */
  errors: number
  durationS: number
  latencyP50Ms: number
  latencyP99Ms: number
}

/** How long an answer may take before its request counts as an error. */
const ANSWER_TIMEOUT_MS = 10_000

/**
 * Requests at a constant arrival rate (an open model): the i-th is due at start + i/rate, whether or not earlier
 * ones have been answered, and its time is counted from then. A request that waits for a free connection, or
 * behind a stall of the service, is late by that wait, once: coordinated omission is avoided by the schedule, not
 * corrected afterwards. autocannon's overallRate is neither (src/bench/RESULTS.md, the runs of 2026-12-06).
 */
export async function openLoad(opts: OpenLoadOptions): Promise<OpenLoadResult> {
  const pool = new Pool(opts.origin, {
    connections: opts.connections,
    pipelining: 1,
    headersTimeout: ANSWER_TIMEOUT_MS,
    bodyTimeout: ANSWER_TIMEOUT_MS,
  })
  const total = Math.floor((opts.rate * opts.durationMs) / 1000)
  const interval = 1000 / opts.rate
  const latencies: number[] = []
  let ok = 0
  let errors = 0
  // Requests sent and not yet answered: a count, not a promise each (a soak sends hundreds of thousands).
  let pending = 0
  let allAnswered = () => {}
  const answered = new Promise<void>((resolve) => {
    allAnswered = resolve
  })

  const send = (i: number, due: number) =>
    pool
      .request({ method: 'POST', path: opts.path, headers: opts.headers, body: opts.body(i) })
      .then(async (res) => {
        await res.body.dump()
        const ms = performance.now() - due
        if (res.statusCode >= 200 && res.statusCode < 300) {
          ok++
          latencies.push(ms)
          opts.onAnswer?.(ms)
        } else errors++
      })
      .catch(() => {
        errors++
      })
      .finally(() => {
        if (--pending === 0 && sent === total) allAnswered()
      })

  const start = performance.now()
  let sent = 0
  await new Promise<void>((resolve) => {
    // Timers fire a millisecond apart at best, and later on a busy machine: each tick sends every request that
    // has come due since the last, each timed from its own due time.
    const tick = () => {
      const now = performance.now()
      while (sent < total && start + sent * interval <= now) {
        pending++
        void send(sent, start + sent * interval)
        sent++
      }
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()))
      else resolve()
    }
    tick()
  })
  if (pending > 0) await answered
  const durationS = (performance.now() - start) / 1000
  await pool.close()
  return {
    ok,
    errors,
    durationS,
    latencyP50Ms: percentile(latencies, 50),
    latencyP99Ms: percentile(latencies, 99),
  }
}
