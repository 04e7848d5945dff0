import t from 'tap'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import type { Sample } from '../../src/dashboard/sample.ts'
import { fastEnv, signup, tempDataDir } from '../helpers/app.ts'
import { freePort, listen } from '../helpers/ports.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'

/*
 * Scaled out: the dashboard of a `deckhand api` shows the queues in Redis, which every worker shares, and a
 * worker's own numbers from its GET /metrics once it answers.
 */
const ADMIN_TOKEN = 'dashboard-token-for-tests-0123456789'

/** The events of a dashboard stream, read until `until` holds for one or `timeoutMs` passes. */
async function readStream(base: string, until: (event: string, data: unknown) => boolean, timeoutMs = 30_000) {
  const login = await fetch(`${base}/dashboard/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base },
    body: JSON.stringify({ token: ADMIN_TOKEN }),
  })
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string
  const abort = AbortSignal.timeout(timeoutMs)
  const res = await fetch(`${base}/dashboard/stream`, { headers: { cookie }, signal: abort })
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  const events: { event: string; data: unknown }[] = []
  let buffer = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return events
      buffer += decoder.decode(value)
      let end = buffer.indexOf('\n\n')
      while (end >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        end = buffer.indexOf('\n\n')
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (!event || data === undefined) continue
        const parsed = JSON.parse(data)
        events.push({ event, data: parsed })
        if (until(event, parsed)) return events
      }
    }
  } finally {
    await reader.cancel().catch(() => {})
  }
}

t.test('an api’s dashboard: the queues across workers, and a worker’s own numbers once it answers', async (t) => {
  if (!(await servicesAvailable(t))) return
  const env = await scaledEnv(t)
  const workerPort = await freePort()
  const workerHost = `127.0.0.1:${workerPort}`
  const api = await buildApp(
    loadConfig({
      ...fastEnv,
      ...env,
      DATA_DIR: tempDataDir(t),
      ADMIN_TOKEN,
      DASHBOARD_WORKER_URLS: `http://${workerHost}`,
    }),
    { role: 'api' },
  )
  t.teardown(() => api.close())
  const base = await listen(api)

  for (let i = 0; i < 3; i++) await signup(api, `queued${i}@example.com`)
  const before = await readStream(base, (event, data) => {
    const jobs = event === 'sample' ? (data as Sample).charts.jobs : undefined
    return (jobs?.['mail.welcome queued'] ?? 0) >= 3
  })
  const scope = before.find((e) => e.event === 'scope')?.data as { role: string; note: string }
  t.equal(scope.role, 'api')
  t.match(scope.note, /across all workers \(Redis\)/)
  t.match(scope.note, /This api runs no jobs/)
  const last = before.at(-1)?.data as Sample
  t.ok((last.charts.jobs?.['mail.welcome queued'] ?? 0) >= 3, 'the queued jobs in Redis, with no worker running')
  t.match(last.workers?.[workerHost], /fetch failed/, 'the worker not up yet is named')

  const worker = await buildApp(
    loadConfig({ ...fastEnv, ...env, DATA_DIR: tempDataDir(t), PORT: String(workerPort) }),
    { role: 'worker' },
  )
  t.teardown(() => worker.close())
  await worker.listen({ port: workerPort, host: '127.0.0.1' })

  // Mails sent/s is a rate of one second: the second the worker sent its few mails may come before the sample
  // that sees the queue empty, so it is summed over the samples until then.
  let sentByWorker = 0
  const after = await readStream(base, (event, data) => {
    if (event !== 'sample') return false
    const sample = data as Sample
    sentByWorker += sample.charts.mails?.[`sent @${workerHost}`] ?? 0
    return sample.charts.jobs?.['mail.welcome queued'] === 0 && sentByWorker > 0
  })
  const drained = after.at(-1)?.data as Sample
  t.equal(drained.workers?.[workerHost], 'ok')
  t.ok(sentByWorker > 0, 'the worker’s mails sent/s, from its /metrics')
  t.ok((drained.charts.rss?.[`MiB @${workerHost}`] ?? 0) > 10, 'the worker’s RSS')
  t.equal(drained.charts.mails?.sent, 0, 'the api itself sent none')
})

t.test('apis sharing PostgreSQL share sessions: a logout on one ends it on the other', async (t) => {
  if (!(await servicesAvailable(t))) return
  const env = await scaledEnv(t)
  const api = async (token: string) => {
    const app = await buildApp(loadConfig({ ...fastEnv, ...env, DATA_DIR: tempDataDir(t), ADMIN_TOKEN: token }), {
      role: 'api',
    })
    t.teardown(() => app.close())
    await app.ready()
    return app
  }
  const [one, two] = [await api(ADMIN_TOKEN), await api(ADMIN_TOKEN)]
  const headers = { origin: 'http://localhost', host: 'localhost' }
  const login = await one.inject({ method: 'POST', url: '/dashboard/login', headers, payload: { token: ADMIN_TOKEN } })
  t.equal(login.statusCode, 204)
  const cookie = `${login.cookies[0]?.name}=${login.cookies[0]?.value}`
  const jobs = (app: typeof one) => app.inject({ url: '/dashboard/jobs', headers: { cookie } })
  t.equal((await jobs(two)).statusCode, 200, 'the other api accepts the session')
  const rotated = await api(`${ADMIN_TOKEN}-rotated`)
  t.equal((await jobs(rotated)).statusCode, 401, 'an api with a new ADMIN_TOKEN does not')

  t.equal(
    (await one.inject({ method: 'POST', url: '/dashboard/logout', headers: { ...headers, cookie } })).statusCode,
    204,
  )
  for (const app of [one, two]) {
    const res = await jobs(app)
    t.equal(res.statusCode, 401, 'ended on both')
    t.equal(res.json().code, 'SESSION_REQUIRED')
  }
})
