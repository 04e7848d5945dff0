import { parsePrometheusText } from '../prometheus-text.ts'
import { metricSum, metricValue, percentile } from './stats.ts'

/** One second of a phase: what the load client saw, and what the service said of itself at its end. */
export interface TimelinePoint {
  /** Seconds since the phase began (the end of this second). */
  t: number
  signupsPerSecond: number
  signupP50Ms: number
  signupP99Ms: number
  avatarsPerSecond: number
  /** Upload to ready, of the avatars that finished in this second. */
  avatarP50Ms: number
  /** The service's event-loop delay over its last full second (deckhand_event_loop_delay_seconds). */
  eventLoopP99Ms: number
  /** Jobs queued, every kind. */
  queued: number
  /** Age of the oldest due job, the oldest kind. */
  queueLatencySeconds: number
  /** The service's RSS; for phase 1, which has no service, the bench's own. */
  rssMiB: number
}

export interface PhaseTimeline {
  phase: string
  points: TimelinePoint[]
}

/** What a phase tells its timeline as the load runs. */
export interface Recorder {
  signup(ms: number): void
  avatar(ms: number): void
}

export const untimed: Recorder = { signup() {}, avatar() {} }

/** What the timeline reads of the service each second: a scrape by name, which leaves the phase's own figures whole. */
const SAMPLED = [
  'deckhand_event_loop_delay_seconds',
  'deckhand_jobs',
  'deckhand_job_queue_latency_seconds',
  'process_resident_memory_bytes',
]
const sampleQuery = SAMPLED.map((name) => `name=${name}`).join('&')

async function serviceSecond(url: string) {
  const res = await fetch(`${url}/metrics?${sampleQuery}`)
  // The bare route of the limit phase has no /metrics: its service figures stay unknown, not 0.
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`)
  const text = await res.text()
  const latencies = parsePrometheusText(text, new Set(['deckhand_job_queue_latency_seconds'])).map((s) => s.value)
  return {
    eventLoopP99Ms: metricValue(text, 'deckhand_event_loop_delay_seconds{stat="p99"}') * 1000,
    queued: metricSum(text, 'deckhand_jobs', { status: 'queued' }),
    queueLatencySeconds: latencies.length > 0 ? Math.max(...latencies) : Number.NaN,
    rssMiB: metricValue(text, 'process_resident_memory_bytes') / 2 ** 20,
  }
}

const unread = async () => ({
  eventLoopP99Ms: Number.NaN,
  queued: Number.NaN,
  queueLatencySeconds: Number.NaN,
  rssMiB: Number.NaN,
})

const benchItself = async () => ({ ...(await unread()), rssMiB: process.memoryUsage.rss() / 2 ** 20 })

/** The timelines of one bench run, in the order their phases ran; the JSON report and the HTML report carry them. */
export class Timelines {
  readonly all: PhaseTimeline[] = []
  readonly #readService: boolean

  /**
   * `readService: false` leaves the service alone during the phases (its figures stay unknown): a run that
   * measures what the once-a-second read itself costs the service (`--sample-service false`).
   */
  constructor({ readService = true }: { readService?: boolean } = {}) {
    this.#readService = readService
  }

  /**
   * Starts a phase's timeline: one point a second until `stop()`, read of the service at `url` (or of the bench
   * itself, without one).
   */
  start(phase: string, url?: string): Recorder & { stop(): Promise<PhaseTimeline> } {
    const timeline: PhaseTimeline = { phase, points: [] }
    this.all.push(timeline)
    const started = performance.now()
    let signups: number[] = []
    let avatars: number[] = []
    let stopped = false
    // The wait for the next second, cut short by stop().
    let wake = () => {}
    const read = !url ? benchItself : this.#readService ? () => serviceSecond(url) : unread
    const loop = (async () => {
      for (let second = 1; !stopped; second++) {
        const wait = started + second * 1000 - performance.now()
        if (wait > 0)
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, wait)
            wake = () => {
              clearTimeout(timer)
              resolve()
            }
          })
        if (stopped) break
        const [s, a] = [signups, avatars]
        signups = []
        avatars = []
        const service = await read().catch(unread)
        timeline.points.push({
          t: second,
          signupsPerSecond: s.length,
          signupP50Ms: percentile(s, 50),
          signupP99Ms: percentile(s, 99),
          avatarsPerSecond: a.length,
          avatarP50Ms: percentile(a, 50),
          ...service,
        })
      }
    })()
    return {
      signup: (ms) => signups.push(ms),
      avatar: (ms) => avatars.push(ms),
      async stop() {
        stopped = true
        wake()
        await loop
        return timeline
      },
    }
  }
}
