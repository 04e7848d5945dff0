import t from 'tap'
import { bucketQuantile } from '../../src/dashboard/quantile.ts'
import { createReadings, ERRORS_SERIES, type Readings } from '../../src/dashboard/readings.ts'
import type { Sample } from '../../src/dashboard/sample.ts'
import { Sampler } from '../../src/dashboard/sampler.ts'
import { signup, startApp } from '../helpers/app.ts'
import { listen } from '../helpers/ports.ts'
import { waitFor } from '../helpers/wait.ts'

const ADMIN_TOKEN = 'dashboard-token-for-tests-0123456789'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('quantiles of a bucketed histogram, as histogram_quantile reads them', async (t) => {
  const inf = Number.POSITIVE_INFINITY
  t.equal(
    bucketQuantile(0.5, [
      [1, 0],
      [inf, 0],
    ]),
    null,
    'nothing counted',
  )
  // 10 under 1, 10 more under 2: the median is the top of the first bucket, p75 halfway through the second.
  const buckets = [
    [1, 10],
    [2, 20],
    [inf, 20],
  ] as const
  t.equal(bucketQuantile(0.5, buckets), 1)
  t.equal(bucketQuantile(0.75, buckets), 1.5)
  t.equal(bucketQuantile(0.25, buckets), 0.5)
  t.equal(
    bucketQuantile(0.99, [
      [1, 1],
      [2, 1],
      [inf, 100],
    ]),
    2,
    'beyond the last bound: that bound',
  )
})

/** Readings that count what is asked of them, and whether a page was watching. */
function countingReadings() {
  const calls = { read: 0, watched: 0 }
  const readings: Readings = {
    read: async (now, watched) => {
      calls.read++
      if (watched) calls.watched++
      return { t: now, charts: { rss: { MiB: calls.read } } }
    },
  }
  return { calls, readings }
}

t.test('the sampler keeps a ring of the last samples whether or not a page listens', async (t) => {
  const { calls, readings } = countingReadings()
  const sampler = new Sampler(readings, { intervalMs: 10, keep: 5, onError: (err) => t.error(err) })
  t.teardown(() => sampler.stop())
  await sleep(60)
  t.same(calls, { read: 0, watched: 0 }, 'not started: nothing read')
  sampler.start()
  await waitFor('the ring to fill with nobody listening', () => calls.read >= 8)
  t.equal(calls.watched, 0, 'with no page open, every read is the in-memory one')
  t.equal(sampler.samples.length, 5, 'only `keep` samples kept')
  t.same(
    sampler.samples.map((s) => s.charts.rss?.MiB),
    [calls.read - 4, calls.read - 3, calls.read - 2, calls.read - 1, calls.read],
    'the newest ones, oldest first: a page opening now sees the last seconds',
  )

  const heard: Sample[] = []
  const unsubscribe = sampler.subscribe((s) => heard.push(s))
  const second = sampler.subscribe(() => {})
  await waitFor('several samples', () => heard.length >= 8)
  t.ok(calls.watched >= 8, 'a page open: whole reads')
  t.same(
    sampler.samples.map((s) => s.charts.rss?.MiB),
    heard.slice(-5).map((s) => s.charts.rss?.MiB),
  )
  unsubscribe()
  second()
  t.ok(sampler.running, 'still sampling once the last page left')
  const watched = calls.watched
  const reads = calls.read
  await waitFor('more reads', () => calls.read >= reads + 3)
  t.ok(calls.watched <= watched + 1, 'no whole reads once nobody listens')
  sampler.stop()
  t.notOk(sampler.running)
})

t.test('a slow read is not piled up, and a failed one is reported, not thrown', async (t) => {
  let inFlight = 0
  let most = 0
  const errors: unknown[] = []
  let n = 0
  const readings: Readings = {
    async read(now) {
      inFlight++
      most = Math.max(most, inFlight)
      await sleep(35)
      inFlight--
      if (++n === 2) throw new Error('Redis away')
      return { t: now, charts: {} }
    },
  }
  const sampler = new Sampler(readings, { intervalMs: 5, keep: 10, onError: (err) => errors.push(err) })
  sampler.start()
  await sleep(200)
  sampler.stop()
  t.equal(most, 1, 'one read at a time')
  t.equal(errors.length, 1)
})

t.test('the readings are the service’s own: requests by route, errors, latency, jobs, mails, RSS', async (t) => {
  const app = await startApp(t)
  const errors: unknown[] = []
  const readings = createReadings({
    registry: app.metrics.registry,
    eventLoop: app.metrics.eventLoop,
    queue: app.queue,
    pool: app.pool,
    onError: (err) => errors.push(err),
  })
  const first = await readings.read(Date.now(), true)
  t.notOk(first.charts.requests, 'the first read has no rates yet: a gap')
  t.ok((first.charts.rss?.MiB ?? 0) > 10, 'RSS in MiB')
  t.same(first.charts.pool?.threads, app.pool?.threads)

  for (let i = 0; i < 20; i++) await app.inject({ url: '/healthz' })
  for (let i = 0; i < 5; i++) await app.inject({ url: '/nowhere' })
  const ann = await signup(app, 'ann@example.com')
  await waitFor('both mails sent', async () => {
    const jobs = await Promise.all(ann.jobs.map((j) => app.queue.get(j.id)))
    return jobs.every((j) => j?.status === 'succeeded')
  })
  const before = Date.now()
  await sleep(100)
  const second = await readings.read(Date.now(), true)
  const seconds = (Date.now() - before + 100) / 1000
  const requests = second.charts.requests ?? {}
  t.ok((requests['GET /healthz'] ?? 0) >= 20 / (seconds + 5), `healthz/s ${requests['GET /healthz']}`)
  t.ok((requests.unmatched ?? 0) > 0, 'unmatched paths as one series')
  t.ok((requests[ERRORS_SERIES] ?? 0) >= (requests.unmatched ?? 0), 'their 404s among the errors')
  t.equal(requests['POST /signup'] !== undefined, true)
  t.notOk(
    Object.keys(requests).some((name) => /[1-5]xx$/.test(name)),
    `one series a route, status classes folded: ${Object.keys(requests)}`,
  )
  t.ok((second.charts.latency?.p50 ?? -1) >= 0, 'a median latency in ms')
  t.ok((second.charts.latency?.p99 ?? -1) >= (second.charts.latency?.p50 ?? 0), 'p99 ≥ p50')
  t.ok((second.charts.finished?.['mail.welcome succeeded'] ?? 0) > 0)
  t.ok((second.charts.mails?.sent ?? 0) > 0, 'mails sent/s')
  t.equal(second.charts.jobs?.['mail.welcome queued'], 0, 'nothing queued: a 0, not a gap')
  t.equal(second.charts.jobs?.['mail.welcome running'], 0)
  t.same(Object.keys(second.charts.loop ?? {}).sort(), ['max', 'p50', 'p99'])
  const third = await readings.read(Date.now(), true)
  t.equal(third.charts.requests?.['GET /healthz'], 0, 'rates are per interval, not since start')
  // The page's own traffic (a closed stream is a request of minutes, the job table polls every 2 s) is not the
  // service's load: neither counted nor in the latency.
  app.metrics.observeRequest('GET', '/dashboard/stream', 200, 120)
  app.metrics.observeRequest('GET', '/dashboard/jobs', 200, 0.002)
  app.metrics.observeRequest('GET', '/dashboard/assets/:name', 200, 0.001)
  for (let i = 0; i < 3; i++) await app.inject({ url: '/healthz' })
  const fourth = await readings.read(Date.now(), true)
  t.same(
    Object.keys(fourth.charts.requests ?? {}).filter((name) => name.includes('/dashboard')),
    [],
    'no /dashboard series',
  )
  t.ok((fourth.charts.latency?.p99 ?? 0) < 1000, `p99 ${fourth.charts.latency?.p99} ms: the stream left out`)
  t.same(errors, [])
})

t.test('latency quantiles fall between bucket edges, near the true ones', async (t) => {
  const app = await startApp(t)
  const readings = createReadings({
    registry: app.metrics.registry,
    eventLoop: app.metrics.eventLoop,
    queue: app.queue,
    pool: undefined,
    onError: (err) => t.error(err),
  })
  await readings.read(Date.now(), false)
  // 100 answers spread evenly over 20–40 ms: the true median is 30 ms and p99 about 39.8 ms. With edges only at
  // 25 and 50 ms, p99 read 49.7 ms, the edge above whatever was measured.
  for (let i = 0; i < 100; i++) app.metrics.observeRequest('GET', '/healthz', 200, (20 + i * 0.2) / 1000)
  const { latency } = (await readings.read(Date.now(), false)).charts
  t.ok(Math.abs((latency?.p50 ?? 0) - 30) < 2, `p50 ${latency?.p50} ms, the true one 30 ms`)
  t.ok(Math.abs((latency?.p99 ?? 0) - 39.8) < 2, `p99 ${latency?.p99} ms, the true one 39.8 ms`)
})

t.test('with no page open a sample asks nothing of the queue', async (t) => {
  const app = await startApp(t)
  let queueReads = 0
  const queue = new Proxy(app.queue, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver)
      if (key !== 'depth' && key !== 'oldestDue') return value
      return (...args: unknown[]) => {
        queueReads++
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  const readings = createReadings({
    registry: app.metrics.registry,
    eventLoop: app.metrics.eventLoop,
    queue,
    pool: app.pool,
    onError: (err) => t.error(err),
  })
  await readings.read(Date.now(), false)
  await app.inject({ url: '/healthz' })
  const unwatched = await readings.read(Date.now(), false)
  t.equal(queueReads, 0, 'no queue query')
  t.ok((unwatched.charts.requests?.['GET /healthz'] ?? 0) > 0, 'the requests are there all the same')
  t.ok(unwatched.charts.loop && unwatched.charts.rss, 'event loop and RSS too')
  t.notOk(unwatched.charts.jobs, 'the queue charts have a gap')
  const watched = await readings.read(Date.now(), true)
  t.equal(queueReads, 2, 'a page open: depth and oldest due, once each')
  t.ok(watched.charts.jobs)
})

t.test('a stream sends the scope, the kept samples and one sample a second; shutdown ends it', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN })
  const base = await listen(app)
  const login = await fetch(`${base}/dashboard/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base },
    body: JSON.stringify({ token: ADMIN_TOKEN }),
  })
  t.equal(login.status, 204)
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string
  const res = await fetch(`${base}/dashboard/stream`, { headers: { cookie, accept: 'text/event-stream' } })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /text\/event-stream/)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  let text = ''
  const decoder = new TextDecoder()
  const started = Date.now()
  while ((text.match(/event: sample/g) ?? []).length < 3) {
    const { value, done } = await reader.read()
    if (done) break
    text += decoder.decode(value)
  }
  const took = Date.now() - started
  t.match(text, /event: scope\ndata: \{"role":"all","queue":"journal","note":"Every number/)
  t.match(text, /event: history\ndata: \[/)
  t.equal((text.match(/event: sample/g) ?? []).length, 3)
  t.ok(took >= 1500 && took < 10_000, `three samples in ${took} ms: about one a second`)
  const closing = Date.now()
  await app.close()
  t.ok(Date.now() - closing < 3000, 'close() did not wait on the open stream')
  const rest = await reader.read().catch(() => ({ done: true }))
  t.ok(rest.done || (await reader.read().catch(() => ({ done: true }))).done, 'the stream ended')
})

t.test('a stream ends when its session does', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN })
  const base = await listen(app)
  // The session's 1.5 s count from before its row is written: a first commit that waits on a thread still
  // starting must not shorten what the test expects.
  const started = Date.now()
  const cookie = `deckhand_dashboard=${await app.dashboardSessions?.start(1500)}`
  const res = await fetch(`${base}/dashboard/stream`, { headers: { cookie }, signal: AbortSignal.timeout(10_000) })
  t.equal(res.status, 200)
  const text = await res.text()
  const took = Date.now() - started
  t.match(text, /event: sample/, 'samples came while the session lasted')
  t.ok(took >= 1200 && took < 5000, `the stream ended with the session, after ${took} ms`)
  const again = await fetch(`${base}/dashboard/stream`, { headers: { cookie } })
  t.equal(again.status, 401, 'and the cookie opens no other')
})

t.test('a stream ends when its session is logged out', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN })
  const base = await listen(app)
  const cookie = `deckhand_dashboard=${await app.dashboardSessions?.start(3_600_000)}`
  const res = await fetch(`${base}/dashboard/stream`, { headers: { cookie }, signal: AbortSignal.timeout(30_000) })
  t.equal(res.status, 200)
  const text = res.text()
  await sleep(1500)
  const loggedOut = Date.now()
  const out = await fetch(`${base}/dashboard/logout`, { method: 'POST', headers: { cookie, origin: base } })
  t.equal(out.status, 204)
  t.match(await text, /event: sample/, 'the stream ended (within the 30 s the fetch allows)')
  const took = Date.now() - loggedOut
  t.ok(took < 15_000, `the stream ended ${took} ms after the logout, not at the session's end an hour later`)
})
