import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import {
  countRows,
  fastEnv,
  type SignedUp,
  signup,
  startApp,
  tempDataDir,
  uploadRaw,
  waitForJob,
} from '../helpers/app.ts'
import { postgresUrl, redisUrl, scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { startSmtp } from '../helpers/smtp.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { waitFor } from '../helpers/wait.ts'

/*
 * Redis and PostgreSQL taken away from one deckhand (through a TCP proxy in front of the machine's real servers,
 * so other tests keep theirs): a route that needs the missing one answers 503 DEPENDENCY_UNAVAILABLE with
 * Retry-After within LIMIT_MS, never a 500, never a hang; /readyz names it; once it is back, everything works
 * again and nothing accepted meanwhile is lost.
 */
const LIMIT_MS = 2000
/** Longer than any answer may take: a request still unanswered then counts as hung. */
const HANG_MS = 10_000
const ADMIN_TOKEN = 'dependency-down-admin-token-0123'
const portOf = (url: string, fallback: number) => Number(new URL(url).port || fallback)

interface Timed {
  res: LightMyRequestResponse | undefined
  ms: number
}

async function timed(
  app: FastifyInstance,
  request: InjectOptions | PromiseLike<LightMyRequestResponse>,
): Promise<Timed> {
  const start = performance.now()
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), HANG_MS)
  })
  const answer = 'then' in request ? request : app.inject(request)
  const res = await Promise.race([answer, hung])
  clearTimeout(timer)
  return { res, ms: performance.now() - start }
}

const bearer = (user: SignedUp) => ({ authorization: `Bearer ${user.token}` })
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }

function unavailable(t: Test, { res, ms }: Timed, dependency: RegExp, what: string): void {
  if (!res) {
    t.fail(`${what}: no answer within ${HANG_MS} ms`)
    return
  }
  t.equal(res.statusCode, 503, `${what}: 503 (got ${res.statusCode} ${res.body})`)
  t.equal(res.json().code, 'DEPENDENCY_UNAVAILABLE', `${what}: DEPENDENCY_UNAVAILABLE`)
  t.match(res.json().message, dependency, `${what}: names the dependency`)
  t.ok(res.headers['retry-after'], `${what}: Retry-After`)
  t.ok(ms < LIMIT_MS, `${what}: answered in ${Math.round(ms)} ms (limit ${LIMIT_MS})`)
}

function notReady(t: Test, { res, ms }: Timed, dependency: RegExp): void {
  t.equal(res?.statusCode, 503, '/readyz: 503')
  t.equal(res?.json().code, 'NOT_READY', '/readyz: NOT_READY')
  t.match(res?.json().message, dependency, '/readyz names what is down')
  t.ok(ms < LIMIT_MS, `/readyz answered in ${Math.round(ms)} ms`)
}

/**
 * The machine's Redis and PostgreSQL for one test (its own database and key prefix), with a proxy in front of
 * one of them that the test can take down or hang; undefined, with the reason given, where they do not run.
 */
async function behindProxy(t: Test, dependency: 'redis' | 'postgres') {
  if (!(await servicesAvailable(t))) return undefined
  const env = await scaledEnv(t)
  const url = dependency === 'redis' ? redisUrl : postgresUrl
  const proxy = await startTcpProxy(portOf(url, dependency === 'redis' ? 6379 : 5432))
  t.teardown(() => proxy.close())
  const through = proxy.through(dependency === 'redis' ? redisUrl : (env.DATABASE_URL as string))
  return { env: { ...env, [dependency === 'redis' ? 'REDIS_URL' : 'DATABASE_URL']: through }, proxy }
}

const ready = async (app: FastifyInstance) => (await app.inject({ url: '/readyz' })).statusCode === 200

t.test(
  'Redis down: what needs it answers 503 at once; a signup is still 201 and its mails go once Redis is back',
  async (t) => {
    const scaled = await behindProxy(t, 'redis')
    if (!scaled) return
    const { env, proxy } = scaled
    const smtp = await startSmtp()
    t.teardown(() => smtp.close())
    const app = await startApp(t, { ...env, SMTP_URL: smtp.url, ADMIN_TOKEN })
    const ann = await signup(app, 'ann@example.com')
    const annJob = ann.jobs[0]?.id as string
    // Recorded as succeeded in BullMQ, not only sent: a job cut off between the two is active when Redis is back.
    t.equal((await waitForJob(app, ann, annJob)).status, 'succeeded', "Ann's welcome mail succeeded")

    await proxy.down()
    unavailable(t, await timed(app, { url: `/jobs/${annJob}`, headers: bearer(ann) }), /Redis/, 'GET /jobs/:id')
    unavailable(t, await timed(app, uploadRaw(app, ann, 'photo-exif.jpg')), /Redis/, 'PUT /users/:id/avatar')
    unavailable(
      t,
      await timed(app, { url: '/admin/jobs?status=succeeded', headers: admin }),
      /Redis/,
      'GET /admin/jobs',
    )
    unavailable(t, await timed(app, { url: '/metrics' }), /Redis/, 'GET /metrics')
    notReady(t, await timed(app, { url: '/readyz' }), /redis/)

    // The outbox is in PostgreSQL: a signup needs only that.
    const start = performance.now()
    const bob = await signup(app, 'bob@example.com')
    const signupMs = performance.now() - start
    t.ok(signupMs < LIMIT_MS, `POST /signup: 201 in ${Math.round(signupMs)} ms while Redis is down`)
    const bobJob = await app.inject({ url: `/jobs/${bob.jobs[0]?.id}`, headers: bearer(bob) })
    t.equal(bobJob.json().status, 'queued', "Bob's job reads as queued from the outbox")
    t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'the process is up')

    await proxy.up()
    await waitFor('/readyz to answer 200 again', () => ready(app), 15_000)
    const again = await app.inject({ url: `/jobs/${annJob}`, headers: bearer(ann) })
    t.equal(again.json().status, 'succeeded', `GET /jobs/:id answers again: ${again.body}`)
    t.equal((await uploadRaw(app, ann, 'photo-exif.jpg')).statusCode, 202, 'uploads are accepted again')
    t.equal((await app.inject({ url: '/admin/jobs?status=succeeded', headers: admin })).statusCode, 200, 'admin list')
    const ids = bob.jobs.map((j) => `<${j.id}@deckhand.local>`)
    await waitFor(
      "Bob's mails, sent once Redis is back",
      () => ids.every((id) => smtp.received.some((m) => m.messageId === id)),
      30_000,
    )
    t.pass("Bob's welcome mail and admin notice were sent")
  },
)

t.test('Redis hung (connections accepted, nothing answered): 503 within the limit, then back', async (t) => {
  const scaled = await behindProxy(t, 'redis')
  if (!scaled) return
  const { env, proxy } = scaled
  // An api alone: BullMQ's workers, whose connections wait for ever by design, are not what is tested here.
  const app = await buildApp(loadConfig({ ...fastEnv, DATA_DIR: tempDataDir(t), ...env, ADMIN_TOKEN }), { role: 'api' })
  t.teardown(() => app.close())
  await app.ready()
  const ann = await signup(app, 'ann@example.com')
  const annJob = ann.jobs[0]?.id as string
  await waitFor('the jobs handed to BullMQ', async () => (await countRows(app, 'outbox')) === 0)

  proxy.hang()
  unavailable(t, await timed(app, { url: `/jobs/${annJob}`, headers: bearer(ann) }), /Redis/, 'GET /jobs/:id')
  unavailable(t, await timed(app, { url: '/admin/jobs?status=succeeded', headers: admin }), /Redis/, 'GET /admin/jobs')
  notReady(t, await timed(app, { url: '/readyz' }), /redis/)

  await proxy.up()
  await waitFor('/readyz to answer 200 again', () => ready(app), 15_000)
  const again = await app.inject({ url: `/jobs/${annJob}`, headers: bearer(ann) })
  t.equal(again.statusCode, 200, 'GET /jobs/:id answers again')
})

t.test('Redis paused with CLIENT PAUSE: a read that needs it answers 503 within the limit', async (t) => {
  if (!(await servicesAvailable(t))) return
  const env = await scaledEnv(t)
  const app = await startApp(t, { ...env, DEPENDENCY_TIMEOUT_MS: '800' })
  const ann = await signup(app, 'ann@example.com')
  const annJob = ann.jobs[0]?.id as string
  t.equal((await waitForJob(app, ann, annJob)).status, 'succeeded', 'the job went through BullMQ')
  const control = new Redis(redisUrl)
  t.teardown(() => control.disconnect())
  // The shared Redis pauses writes (scripts included) for everyone: kept short, as other tests use it too.
  await control.call('CLIENT', 'PAUSE', '2000', 'WRITE')
  try {
    unavailable(t, await timed(app, { url: `/jobs/${annJob}`, headers: bearer(ann) }), /Redis/, 'GET /jobs/:id')
  } finally {
    await control.call('CLIENT', 'UNPAUSE')
  }
  await waitFor('GET /jobs/:id to answer again', async () => {
    const res = await app.inject({ url: `/jobs/${annJob}`, headers: bearer(ann) })
    return res.statusCode === 200
  })
  t.pass('GET /jobs/:id answers again after the pause')
})

t.test('PostgreSQL down: signup and profile answer 503 at once, then work again', async (t) => {
  const scaled = await behindProxy(t, 'postgres')
  if (!scaled) return
  const { env, proxy } = scaled
  const app = await startApp(t, env)
  const ann = await signup(app, 'ann@example.com')

  await proxy.down()
  const body = { email: 'bob@example.com' }
  unavailable(t, await timed(app, { method: 'POST', url: '/signup', payload: body }), /PostgreSQL/, 'POST /signup')
  unavailable(t, await timed(app, { url: `/users/${ann.id}` }), /PostgreSQL/, 'GET /users/:id')
  const annJob = { url: `/jobs/${ann.jobs[0]?.id}`, headers: bearer(ann) }
  unavailable(t, await timed(app, annJob), /PostgreSQL/, 'GET /jobs/:id')
  notReady(t, await timed(app, { url: '/readyz' }), /database/)
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'the process is up')

  await proxy.up()
  await waitFor('/readyz to answer 200 again', () => ready(app), 15_000)
  t.equal((await app.inject({ method: 'POST', url: '/signup', payload: body })).statusCode, 201, 'signups again')
  t.equal((await app.inject({ url: `/users/${ann.id}` })).statusCode, 200, 'profiles again')
})

t.test('PostgreSQL hung: 503 within the limit, then back', async (t) => {
  const scaled = await behindProxy(t, 'postgres')
  if (!scaled) return
  const { env, proxy } = scaled
  const app = await startApp(t, env)
  const ann = await signup(app, 'ann@example.com')

  proxy.hang()
  const body = { email: 'bob@example.com' }
  unavailable(t, await timed(app, { url: `/users/${ann.id}` }), /PostgreSQL/, 'GET /users/:id')
  unavailable(t, await timed(app, { method: 'POST', url: '/signup', payload: body }), /PostgreSQL/, 'POST /signup')
  notReady(t, await timed(app, { url: '/readyz' }), /database/)

  await proxy.up()
  await waitFor('/readyz to answer 200 again', () => ready(app), 15_000)
  t.equal((await app.inject({ url: `/users/${ann.id}` })).statusCode, 200, 'profiles again')
  t.equal((await app.inject({ method: 'POST', url: '/signup', payload: body })).statusCode, 201, 'signups again')
})
