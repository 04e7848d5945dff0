import t from 'tap'
import { bucketQuantile } from '../../src/dashboard/quantile.ts'
import { createReadings, type Readings } from '../../src/dashboard/readings.ts'
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

/** Readings that count what is asked of them. */
function countingReadings() {
  const calls = { begin: 0, end: 0, read: 0 }
  const readings: Readings = {
    begin: () => void calls.begin++,
    end: () => void calls.end++,
    read: async (now) => {
      calls.read++
      return { t: now, charts: { rss: { MiB: calls.read } } }
    },
  }
  return { calls, readings }
}

t.test('the sampler reads only while someone listens, and keeps the last samples', async (t) => {
  const { calls, readings } = countingReadings()
  const sampler = new Sampler(readings, { intervalMs: 10, keep: 5, onError: (err) => t.error(err) })
  t.teardown(() => sampler.stop())
  await sleep(60)
  t.same(calls, { begin: 0, end: 0, read: 0 }, 'nobody listening: nothing read, no monitor started')
  t.notOk(sampler.running)

  const heard: Sample[] = []
  const unsubscribe = sampler.subscribe((s) => heard.push(s))
  const second = sampler.subscribe(() => {})
  t.equal(calls.begin, 1, 'one monitor for any number of pages')
  await waitFor('several samples', () => heard.length >= 8)
  t.equal(sampler.samples.length, 5, 'only `keep` samples kept')
  t.same(
    sampler.samples.map((s) => s.charts.rss?.MiB),
    heard.slice(-5).map((s) => s.charts.rss?.MiB),
    'the newest ones, oldest first',
  )
  unsubscribe()
  t.ok(sampler.running, 'still running while one page listens')
  second()
  t.notOk(sampler.running)
  t.equal(calls.end, 1)
  const reads = calls.read
  await sleep(60)
  t.equal(calls.read, reads, 'no reads after the last page left')
  t.equal(sampler.samples.length, 5, 'the samples stay for the next page')
})

t.test('a slow read is not piled up, and a failed one is reported, not thrown', async (t) => {
  let inFlight = 0
  let most = 0
  const errors: unknown[] = []
  let n = 0
  const readings: Readings = {
    begin() {},
    end() {},
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
  const stop = sampler.subscribe(() => {})
  await sleep(200)
  stop()
  t.equal(most, 1, 'one read at a time')
  t.equal(errors.length, 1)
})

t.test('the readings are the service’s own: requests by route and class, latency, jobs, mails, RSS', async (t) => {
  const app = await startApp(t)
  const errors: unknown[] = []
  const readings = createReadings({
    registry: app.services.metrics.registry,
    eventLoop: app.services.metrics.eventLoop,
    queue: app.services.queue,
    pool: app.services.pool,
    onError: (err) => errors.push(err),
  })
  readings.begin()
  t.teardown(() => readings.end())
  const first = await readings.read(Date.now())
  t.notOk(first.charts.requests, 'the first read has no rates yet: a gap')
  t.ok((first.charts.rss?.MiB ?? 0) > 10, 'RSS in MiB')
  t.same(first.charts.pool?.threads, app.services.pool?.threads)

  for (let i = 0; i < 20; i++) await app.inject({ url: '/healthz' })
  for (let i = 0; i < 5; i++) await app.inject({ url: '/nowhere' })
  const ann = await signup(app, 'ann@example.com')
  await waitFor('both mails sent', async () => {
    const jobs = await Promise.all(ann.jobs.map((j) => app.services.queue.get(j.id)))
    return jobs.every((j) => j?.status === 'succeeded')
  })
  const before = Date.now()
  await sleep(100)
  const second = await readings.read(Date.now())
  const seconds = (Date.now() - before + 100) / 1000
  const requests = second.charts.requests ?? {}
  t.ok((requests['GET /healthz 2xx'] ?? 0) >= 20 / (seconds + 5), `healthz/s ${requests['GET /healthz 2xx']}`)
  t.ok((requests['GET unmatched 4xx'] ?? 0) > 0, 'unmatched 404s in their own class')
  t.equal(requests['POST /signup 2xx'] !== undefined, true)
  t.ok((second.charts.latency?.p50 ?? -1) >= 0, 'a median latency in ms')
  t.ok((second.charts.latency?.p99 ?? -1) >= (second.charts.latency?.p50 ?? 0), 'p99 ≥ p50')
  t.ok((second.charts.finished?.['mail.welcome succeeded'] ?? 0) > 0)
  t.ok((second.charts.mails?.sent ?? 0) > 0, 'mails sent/s')
  t.equal(second.charts.jobs?.['mail.welcome queued'], 0, 'nothing queued: a 0, not a gap')
  t.equal(second.charts.jobs?.['mail.welcome running'], 0)
  t.same(Object.keys(second.charts.loop ?? {}).sort(), ['max', 'p50', 'p99'])
  const third = await readings.read(Date.now())
  t.equal(third.charts.requests?.['GET /healthz 2xx'], 0, 'rates are per interval, not since start')
  // A page closed after two minutes ends a request of two minutes: counted as a request, kept out of latency.
  app.services.metrics.observeRequest('GET', '/dashboard/stream', 200, 120)
  for (let i = 0; i < 3; i++) await app.inject({ url: '/healthz' })
  const fourth = await readings.read(Date.now())
  t.ok((fourth.charts.requests?.['GET /dashboard/stream 2xx'] ?? 0) > 0, 'the stream counted as a request')
  t.ok((fourth.charts.latency?.p99 ?? 0) < 1000, `p99 ${fourth.charts.latency?.p99} ms: the stream left out`)
  t.same(errors, [])
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
  const cookie = `deckhand_dashboard=${await app.services.dashboardSessions?.start(1500)}`
  const started = Date.now()
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
  const cookie = `deckhand_dashboard=${await app.services.dashboardSessions?.start(3_600_000)}`
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
