import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
import { request } from 'undici'
import { type AvatarTask, renderAvatar } from '../avatars/render.ts'
import { loadConfig } from '../config.ts'
import { mailKinds as mailJobKinds } from '../mail/kinds.ts'
import { openLoad } from './open-load.ts'
import { progress } from './progress.ts'
import { median, metricValue, percentile, steadyRate } from './stats.ts'
import { type Recorder, type Timelines, untimed } from './timeline.ts'

export interface BenchOptions {
  /** The 12 MP JPEG every avatar is made from. */
  fixture: string
  /** Avatar jobs that phase 1 and 2 run to completion. */
  avatarJobs: number
  /** How long the signup phases (3 to 5) last. */
  durationMs: number
  /** Avatar clients uploading at once in phases 2, 4 and 5. */
  avatarConcurrency: number
  /** Connections autocannon keeps busy with signups. */
  signupConnections: number
  /** How long each rate of phase 7 lasts. */
  sustainedMs: number
}

const defaults = loadConfig({})

/** Completions left out of every avatars/s figure: the ramp until the first jobs of each client are through. */
export const warmUp = (opts: BenchOptions) => Math.min(opts.avatarConcurrency, Math.floor(opts.avatarJobs / 4))

/** Phase 1: the pipeline called directly, as many in flight as there are cores: the machine's limit. */
export async function rawPhase(opts: BenchOptions, label = '1 raw pipeline', timeline: Recorder = untimed) {
  const cores = os.availableParallelism()
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-bench-raw-'))
  let n = 0
  const task = (): AvatarTask => {
    const outDir = path.join(scratch, String(n++))
    fs.mkdirSync(outDir)
    return {
      input: opts.fixture,
      outDir,
      sizes: defaults.avatarSizes,
      formats: [...defaults.avatarFormats, 'jpeg'],
      maxPixels: defaults.MAX_INPUT_PIXELS,
      timeoutSeconds: 60,
    }
  }
  try {
    await renderAvatar(task()) // warm-up: libvips' first call loads codecs
    const singles: number[] = []
    for (let i = 0; i < 5; i++) {
      const started = performance.now()
      await renderAvatar(task())
      singles.push(performance.now() - started)
    }
    const bar = progress(label, opts.avatarJobs)
    let begun = 0
    const finishedAt: number[] = []
    await Promise.all(
      Array.from({ length: cores }, async () => {
        while (begun++ < opts.avatarJobs) {
          const started = performance.now()
          await renderAvatar(task())
          finishedAt.push(performance.now())
          timeline.avatar(performance.now() - started)
          bar.tick(finishedAt.length)
        }
      }),
    )
    bar.done()
    return {
      cores,
      images: finishedAt.length,
      avatarsPerSecond: steadyRate(finishedAt, warmUp(opts)),
      singleMs: median(singles),
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
}

export interface User {
  id: string
  token: string
}

export async function createUsers(url: string, count: number, tag: string): Promise<User[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const res = await fetch(`${url}/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `avatar-${tag}-${i}@bench.test` }),
      })
      if (res.status !== 201) throw new Error(`signup for the avatar clients failed: ${res.status}`)
      return (await res.json()) as User
    }),
  )
}

/**
 * Uploads one avatar and waits for its job with `Prefer: wait` (the server holds the answer until the job is
 * done), so the clients add one request per job, not a stream of polls. The latency runs from the first byte
 * sent to the finishedAt the server recorded.
 */
export async function uploadAndWait(
  url: string,
  user: User,
  image: Buffer,
  contentType = 'image/jpeg',
): Promise<number> {
  const started = Date.now()
  const authorization = `Bearer ${user.token}`
  const res = await request(`${url}/users/${user.id}/avatar`, {
    method: 'PUT',
    headers: { authorization, 'content-type': contentType },
    body: image,
  })
  if (res.statusCode !== 202) throw new Error(`upload answered ${res.statusCode}: ${await res.body.text()}`)
  const { jobId } = (await res.body.json()) as { jobId: string }
  for (;;) {
    const answer = await request(`${url}/jobs/${jobId}`, { headers: { authorization, prefer: 'wait=30' } })
    const job = (await answer.body.json()) as { status: string; finishedAt?: string }
    if (job.status === 'succeeded') return Date.parse(job.finishedAt as string) - started
    if (job.status === 'failed') throw new Error(`avatar job failed: ${JSON.stringify(job)}`)
    // A server that does not wait (an older deckhand behind --url, or its waiters full): poll gently instead.
    if (!answer.headers['preference-applied']) await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Each user uploads, waits for the result, uploads again, until `stop()` says so. */
function avatarClients(
  url: string,
  users: User[],
  image: Buffer,
  stop: (finished: number) => boolean,
  timeline: Recorder,
) {
  const latencies: number[] = []
  const finishedAt: number[] = []
  const started = Date.now()
  const running = Promise.all(
    users.map(async (user) => {
      while (!stop(latencies.length)) {
        const latency = await uploadAndWait(url, user, image)
        latencies.push(latency)
        finishedAt.push(Date.now())
        timeline.avatar(latency)
      }
    }),
  )
  return { latencies, finishedAt, started, running }
}

/**
 * Phase 2: avatars over HTTP, `avatarConcurrency` clients, until `avatarJobs` have finished; then one at a time on the
 * idle service. With `warmUpFirst`, each client first uploads one avatar, unmeasured: a fresh service's main thread
 * spent more CPU an avatar in the first round than in the second, compiling its paths (src/bench/RESULTS.md, "An
 * upload's file system calls"), and phase 1 too warms up with six images before it is measured.
 */
export async function avatarsPhase(
  url: string,
  opts: BenchOptions,
  label = '2 avatars over HTTP',
  timeline: Recorder = untimed,
  warmUpFirst = false,
) {
  const image = fs.readFileSync(opts.fixture)
  const users = await createUsers(url, opts.avatarConcurrency, label.replace(/\W+/g, '').slice(0, 40))
  if (warmUpFirst) {
    const warming = progress(`${label} warm-up`, users.length)
    let warmed = 0
    await Promise.all(
      users.map(async (user) => {
        await uploadAndWait(url, user, image)
        warming.tick(++warmed)
      }),
    )
    warming.done()
  }
  const bar = progress(label, opts.avatarJobs)
  const load = avatarClients(
    url,
    users,
    image,
    (finished) => {
      bar.tick(finished)
      return finished >= opts.avatarJobs
    },
    timeline,
  )
  await load.running
  bar.done()
  // The jobs that finish past the N-th (clients still waiting) do not count: the window ends at the N-th.
  const window = load.finishedAt
    .slice()
    .sort((a, b) => a - b)
    .slice(0, opts.avatarJobs)
  const idle: number[] = []
  for (let i = 0; i < 5; i++) idle.push(await uploadAndWait(url, users[0] as User, image))
  return {
    jobs: load.latencies.length,
    avatarsPerSecond: steadyRate(window, warmUp(opts)),
    latencyP50Ms: median(load.latencies),
    latencyP99Ms: percentile(load.latencies, 99),
    idleLatencyP50Ms: median(idle),
  }
}

/**
 * `POST /signup` with unique addresses for `opts.durationMs`: as fast as autocannon's connections go (a closed
 * model: a flood), or at a constant arrival rate of `rate` a second (open-load.ts: an open model, each
 * answer timed from when its request was due). Not autocannon's overallRate, which sends each connection's quota
 * for the second in a burst and weighs a slow answer by its milliseconds (src/bench/RESULTS.md, the runs of
 * 2026-12-06).
 */
export function signupLoad(
  url: string,
  opts: Pick<BenchOptions, 'durationMs' | 'signupConnections'>,
  label: string,
  rate?: number,
  timeline: Recorder = untimed,
) {
  let n = 0
  const run = Date.now().toString(36)
  const bar = progress(label, Math.round(opts.durationMs / 1000))
  const started = Date.now()
  const ticker = setInterval(() => bar.tick(Math.round((Date.now() - started) / 1000)), 250)
  const done = () => {
    clearInterval(ticker)
    bar.done()
  }
  if (rate) {
    return openLoad({
      origin: url,
      path: '/signup',
      headers: { 'content-type': 'application/json' },
      body: (i) => JSON.stringify({ email: `u${run}-${i}@bench.test` }),
      rate,
      durationMs: opts.durationMs,
      connections: opts.signupConnections,
      onAnswer: (ms) => timeline.signup(ms),
    }).then((result) => {
      done()
      return {
        requests: result.ok,
        errors: result.errors,
        requestsPerSecond: result.ok / result.durationS,
        latencyP50Ms: result.latencyP50Ms,
        latencyP99Ms: result.latencyP99Ms,
      }
    })
  }
  let instance!: autocannon.Instance
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url,
        connections: opts.signupConnections,
        duration: opts.durationMs / 1000,
        requests: [
          {
            method: 'POST',
            path: '/signup',
            headers: { 'content-type': 'application/json' },
            setupRequest: (request) => ({ ...request, body: JSON.stringify({ email: `u${run}-${n++}@bench.test` }) }),
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    )
  })
  instance.on('response', (_client, _status, _bytes, responseTime) => timeline.signup(responseTime))
  return finished.then((result) => {
    done()
    const ok = result['2xx']
    return {
      requests: ok,
      errors: result.non2xx + result.errors + result.timeouts,
      requestsPerSecond: ok / result.duration,
      latencyP50Ms: result.latency.p50,
      latencyP99Ms: result.latency.p99,
    }
  })
}

async function scrape(url: string) {
  return (await fetch(`${url}/metrics`)).text()
}

const mailKinds = mailJobKinds.map((k) => k.name)

/** Mails sent per second between two scrapes, and mail jobs waiting at the second: does the background keep up? */
function mailBetween(before: string, after: string, seconds: number) {
  const sum = (metrics: string, name: (kind: string) => string) =>
    mailKinds.reduce((n, kind) => n + (metricValue(metrics, name(kind)) || 0), 0)
  const sent = (metrics: string) =>
    sum(metrics, (kind) => `deckhand_mail_attempts_total{kind="${kind}",outcome="succeeded"}`)
  return {
    mailsPerSecond: (sent(after) - sent(before)) / seconds,
    mailsWaiting: sum(after, (kind) => `deckhand_jobs{kind="${kind}",status="queued"}`),
  }
}

/** The age of the oldest mail job still waiting, in seconds: how far behind the mail lane is. */
const mailQueueLatency = (metrics: string) =>
  Math.max(...mailKinds.map((kind) => metricValue(metrics, `deckhand_job_queue_latency_seconds{kind="${kind}"}`) || 0))

/** Phase 3's limit: the same load on the bare route of signup-limit.ts. */
export const signupLimitPhase = (url: string, opts: BenchOptions, label: string, timeline?: Recorder) =>
  signupLoad(url, opts, label, undefined, timeline)

/** Phase 3: signups alone. */
export async function signupsPhase(url: string, opts: BenchOptions, timeline: Recorder = untimed) {
  const before = await scrape(url)
  const result = await signupLoad(url, opts, '3 signups alone', undefined, timeline)
  const metrics = await scrape(url)
  return {
    ...result,
    eventLoopDelayP99Ms: metricValue(metrics, 'nodejs_eventloop_lag_p99_seconds') * 1000,
    ...mailBetween(before, metrics, opts.durationMs / 1000),
    mailQueueLatencySeconds: mailQueueLatency(metrics),
  }
}

export interface SustainedStep {
  rate: number
  requestsPerSecond: number
  errors: number
  latencyP99Ms: number
  mailsPerSecond: number
  mailsWaiting: number
  mailQueueLatencySeconds: number
  ok: boolean
}

const WARM_UP_MS = 2000

/** What a sustained step must show to pass: the rate served, no error, p99 under 50 ms, mail caught up. */
export const SUSTAINED_P99_MS = 50
/** Phase 7's try halfway between its last two rates is rounded to this many signups a second. */
const HALFWAY_STEP = 100

/**
 * Phase 7: signups at a constant arrival rate (open-load.ts: an open model, each answer timed from when its request
 * was due), on a fresh service per rate, raised in steps until one fails (climbRates). A rate passes when,
 * after `sustainedMs`, it was served (at least 95% of it, no errors), signup p99 stayed under 50 ms, and the mail
 * jobs still waiting are at most one second's worth (2 × rate: two mails a signup). The answer to "what rate can
 * it take for an hour?" is the highest rate that passed.
 */
export async function sustainedPhase(
  opts: BenchOptions,
  rates: readonly number[],
  onService: <T>(fn: (url: string) => Promise<T>) => Promise<T>,
  label: string,
  timelines?: Timelines,
) {
  // Enough connections that an open model stays open: one per 20 requests a second, 10 at the least.
  const connections = (rate: number) => Math.max(opts.signupConnections, Math.ceil(rate / 20))
  const tryRate = (rate: number): Promise<SustainedStep> =>
    onService(async (url) => {
      // A fresh process compiles its code on the first requests (tsx, then V8's tiers): two seconds at the same
      // rate first, so the measured p99 is the service's and not its start-up's. Their mails stay in the count.
      await signupLoad(url, { durationMs: WARM_UP_MS, signupConnections: connections(rate) }, `${label} warm-up`, rate)
      const before = await scrape(url)
      const timeline = timelines?.start(`${label} at ${rate}/s`, url)
      const load = await signupLoad(
        url,
        { durationMs: opts.sustainedMs, signupConnections: connections(rate) },
        `${label} at ${rate}/s`,
        rate,
        timeline,
      )
      await timeline?.stop()
      const metrics = await scrape(url)
      const mail = mailBetween(before, metrics, opts.sustainedMs / 1000)
      return {
        rate,
        requestsPerSecond: load.requestsPerSecond,
        errors: load.errors,
        latencyP99Ms: load.latencyP99Ms,
        ...mail,
        mailQueueLatencySeconds: mailQueueLatency(metrics),
        ok:
          load.errors === 0 &&
          load.requestsPerSecond >= 0.95 * rate &&
          load.latencyP99Ms < SUSTAINED_P99_MS &&
          mail.mailsWaiting <= 2 * rate,
      }
    })
  return climbRates(rates, tryRate)
}

/**
 * Tries `rates` in order until one fails, then once more halfway between the last rate that passed and the one that
 * failed: the list's steps are 400 apart at the top, a tenth of the rate, and the figure should not be a whole step
 * short of what the service holds. The highest rate that passed is the answer.
 */
export async function climbRates<Step extends { rate: number; ok: boolean }>(
  rates: readonly number[],
  tryRate: (rate: number) => Promise<Step>,
): Promise<{ highestRate: number; steps: Step[] }> {
  const steps: Step[] = []
  for (const rate of rates) {
    const step = await tryRate(rate)
    steps.push(step)
    if (!step.ok) break
  }
  const lastPassed = steps.filter((s) => s.ok).at(-1)
  const failed = steps.at(-1)
  if (lastPassed && failed && !failed.ok && failed.rate - lastPassed.rate >= 2 * HALFWAY_STEP) {
    const halfway = lastPassed.rate + Math.round((failed.rate - lastPassed.rate) / 2 / HALFWAY_STEP) * HALFWAY_STEP
    steps.push(await tryRate(halfway))
  }
  const passed = steps.filter((s) => s.ok)
  return { highestRate: Math.max(0, ...passed.map((s) => s.rate)), steps }
}

/**
 * Phases 4 and 5: signups while avatar clients keep the image work busy; the server's own metrics say how its event
 * loop and memory fared. As in phase 7, the first two seconds warm the service up and are left out of the window:
 * a fresh process's first second compiles its hot paths, and its event loop was 10–34 ms late at p99 against 3.5–14
 * in the seconds after, so that one second set the phase's p99 (src/bench/RESULTS.md, "Phase 4's first second").
 * What the warm-up's event loop did is reported beside the window's, not hidden.
 */
export async function mixedPhase(url: string, opts: BenchOptions, label: string, timeline: Recorder = untimed) {
  const image = fs.readFileSync(opts.fixture)
  const users = await createUsers(url, opts.avatarConcurrency, label[0] as string)
  // Each scrape also resets the event-loop delay histogram: the next one covers what came between.
  await scrape(url)
  let stopping = false
  const load = avatarClients(url, users, image, () => stopping, timeline)
  await signupLoad(url, { ...opts, durationMs: WARM_UP_MS }, `${label} warm-up`, undefined, timeline)
  const before = await scrape(url)
  const windowStart = Date.now()
  const signups = await signupLoad(url, opts, label, undefined, timeline)
  const metrics = await scrape(url)
  stopping = true
  const windowEnd = Date.now()
  await load.running
  const inWindow = load.finishedAt.filter((t) => t > windowStart && t <= windowEnd).length
  return {
    signups: { ...signups, ...mailBetween(before, metrics, opts.durationMs / 1000) },
    avatarsPerSecond: inWindow / ((windowEnd - windowStart) / 1000),
    eventLoopDelayP99Ms: metricValue(metrics, 'nodejs_eventloop_lag_p99_seconds') * 1000,
    eventLoopDelayMaxMs: metricValue(metrics, 'nodejs_eventloop_lag_max_seconds') * 1000,
    warmUpEventLoopDelayP99Ms: metricValue(before, 'nodejs_eventloop_lag_p99_seconds') * 1000,
    mailQueueLatencySeconds: mailQueueLatency(metrics),
    peakRssMiB: metricValue(metrics, 'deckhand_process_max_rss_bytes') / 2 ** 20,
  }
}
