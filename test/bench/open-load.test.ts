import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { openLoad } from '../../src/bench/open-load.ts'

/**
 * A server that notes when each request arrived, and holds every answer of the window [stallFrom, stallTo) ms
 * (from its first request) until the window's end: a stall of the service, as one second of phase 7 had.
 */
async function stallingServer(t: { teardown(fn: () => Promise<void>): void }, stallFrom: number, stallTo: number) {
  const arrivals: number[] = []
  let first: number | undefined
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const now = performance.now()
      first ??= now
      const at = now - first
      arrivals.push(at)
      const answer = () => res.writeHead(201, { 'content-type': 'application/json' }).end('{}')
      if (at >= stallFrom && at < stallTo) setTimeout(answer, stallTo - at)
      else answer()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.address() as AddressInfo
  return { origin: `http://127.0.0.1:${port}`, arrivals }
}

const load = (origin: string, onAnswer?: (ms: number) => void) =>
  openLoad({
    origin,
    path: '/signup',
    headers: { 'content-type': 'application/json' },
    body: (i) => JSON.stringify({ email: `u${i}@bench.test` }),
    rate: 200,
    durationMs: 2000,
    connections: 20,
    onAnswer,
  })

t.test('requests arrive at a constant rate, not in a burst at the top of each second', async (t) => {
  const server = await stallingServer(t, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY)
  const result = await load(server.origin)
  t.equal(result.ok, 400, 'two seconds at 200 a second')
  t.equal(result.errors, 0)
  // autocannon's overallRate sends each connection's quota for the second back to back: nearly all of a second's
  // requests in its first tenth. Here every tenth of a second gets about its share, 20.
  const tenths = Array.from({ length: 20 }, (_, i) =>
    server.arrivals.filter((at) => at >= i * 100 && at < (i + 1) * 100),
  )
  const counts = tenths.map((a) => a.length)
  t.ok(
    counts.every((n) => n >= 12 && n <= 28),
    `each tenth of a second got 12–28 requests: ${counts.join(' ')}`,
  )
})

t.test('a stall is counted once a request, each from when it was due', async (t) => {
  // The service answers nothing for 300 ms: the 60 requests due in it wait, the first about 300 ms, the last
  // about none. An answer's time is from its due time, so the wait is in it even though it was sent on time.
  const server = await stallingServer(t, 500, 800)
  const answers: number[] = []
  const result = await load(server.origin, (ms) => answers.push(ms))
  t.equal(answers.length, 400, 'one time an answer, no more: a slow answer weighs as one request')
  const held = answers.filter((ms) => ms > 100).length
  t.ok(held >= 30 && held <= 70, `the requests due in the first 200 ms of the stall waited over 100 ms: ${held}`)
  t.ok(Math.max(...answers) >= 250, `the first one held waited about the stall: ${Math.round(Math.max(...answers))} ms`)
  // Of 400 requests, about 60 were held (15%): the p99 is in the stall, the p50 is not.
  t.ok(result.latencyP99Ms >= 200, `p99 ${result.latencyP99Ms} ms`)
  t.ok(result.latencyP50Ms < 50, `p50 ${result.latencyP50Ms} ms`)
})

t.test('an answer that is not a 2xx is an error, and so is a refused connection', async (t) => {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  // A port that was just closed: nothing listens there.
  const refused = await new Promise<number>((resolve) => server.close(() => resolve(port)))
  const failing = http.createServer((_req, res) => res.writeHead(503).end())
  await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => failing.close(() => resolve())))
  const served = await load(`http://127.0.0.1:${(failing.address() as AddressInfo).port}`)
  t.same([served.ok, served.errors], [0, 400], 'every 503 an error')
  const lost = await load(`http://127.0.0.1:${refused}`)
  t.same([lost.ok, lost.errors], [0, 400], 'every refused request an error')
})
