import fs from 'node:fs'
import { request } from 'undici'
import { createUsers, type User, uploadAndWait } from './phases.ts'
import { progress } from './progress.ts'
import { median } from './stats.ts'
import { type Recorder, untimed } from './timeline.ts'

export interface NoisyNeighbourOptions {
  /** How long user A floods. */
  floodMs: number
  /** A's uploads in flight at once (MAX_UPLOADS_IN_FLIGHT_PER_USER's default). */
  inFlight: number
}

/** Small: each job is short, so A's backlog is long in jobs, which is what a fair dispatch must see past. */
const image = () => fs.readFileSync(new URL('../../fixtures/images/alpha.png', import.meta.url))

/** B's uploads on the idle service, one at a time: the baseline. */
const IDLE_SAMPLES = 5
/** B waits this long into the flood before its first upload, so A's backlog has built up. */
const FLOOD_LEAD_MS = 2000
/** B's pause between its uploads during the flood: "now and then". */
const B_PAUSE_MS = 1000
/** A's pause after a refusal (429 past its share, 503 past the service's limit) before it tries again. */
const REFUSED_PAUSE_MS = 20

/**
 * Phase 8, noisy neighbour: user A floods avatar uploads, `inFlight` at a time, each sent as soon as the last was
 * answered (never waiting for its job), for `floodMs`; meanwhile user B uploads one now and then and waits for it.
 * The figure is B's upload->ready during the flood over B's idle upload->ready: how much one user's backlog costs
 * another. First come, first served, B waits behind all of A's backlog; dispatched fairly, behind about one job.
 */
export async function noisyNeighbourPhase(
  url: string,
  opts: NoisyNeighbourOptions,
  label: string,
  timeline: Recorder = untimed,
) {
  const png = image()
  const [a, b] = (await createUsers(url, 2, label.replace(/\W+/g, '').slice(0, 12))) as [User, User]
  const idle: number[] = []
  for (let i = 0; i < IDLE_SAMPLES; i++) idle.push(await uploadAndWait(url, b, png, 'image/png'))

  const bar = progress(label, Math.round(opts.floodMs / 1000))
  const started = Date.now()
  const ticker = setInterval(() => bar.tick(Math.round((Date.now() - started) / 1000)), 250)
  const flooding = () => Date.now() - started < opts.floodMs
  const answers: Record<string, number> = {}
  const flood = Promise.all(
    Array.from({ length: opts.inFlight }, async () => {
      while (flooding()) {
        const res = await request(`${url}/users/${a.id}/avatar`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${a.token}`, 'content-type': 'image/png' },
          body: png,
        })
        await res.body.dump()
        answers[res.statusCode] = (answers[res.statusCode] ?? 0) + 1
        if (res.statusCode !== 202) await new Promise((resolve) => setTimeout(resolve, REFUSED_PAUSE_MS))
      }
    }),
  )
  const during: number[] = []
  try {
    await new Promise((resolve) => setTimeout(resolve, FLOOD_LEAD_MS))
    while (flooding()) {
      const ms = await uploadAndWait(url, b, png, 'image/png')
      during.push(ms)
      timeline.avatar(ms)
      await new Promise((resolve) => setTimeout(resolve, B_PAUSE_MS))
    }
  } finally {
    await flood
    clearInterval(ticker)
    bar.done()
  }
  const idleP50Ms = median(idle)
  const duringP50Ms = median(during)
  return {
    floodAccepted: answers[202] ?? 0,
    floodRefused: Object.entries(answers).reduce((n, [status, count]) => n + (status === '202' ? 0 : count), 0),
    idleP50Ms,
    duringP50Ms,
    duringMaxMs: during.length > 0 ? Math.max(...during) : Number.NaN,
    samples: during.length,
    ratio: duringP50Ms / idleP50Ms,
  }
}
