import fs from 'node:fs'
import { PassThrough } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { fixture, type SignedUp, signup, startApp, uploadRaw } from '../helpers/app.ts'
import { openEventStream } from '../helpers/sse.ts'
import { waitFor } from '../helpers/wait.ts'

t.test('signups per address are limited: 429 RATE_LIMITED with Retry-After', async (t) => {
  const app = await startApp(t, { SIGNUP_RATE_MAX: '3', SIGNUP_RATE_WINDOW_MS: '60000' })
  for (let i = 0; i < 3; i++) await signup(app, `u${i}@example.com`)
  const res = await app.inject({ method: 'POST', url: '/signup', payload: { email: 'u3@example.com' } })
  t.equal(res.statusCode, 429)
  t.equal(res.json().code, 'RATE_LIMITED')
  t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.ok(Number(res.headers['retry-after']) > 0, `Retry-After: ${res.headers['retry-after']}`)
  const other = await app.inject({
    method: 'POST',
    url: '/signup',
    payload: { email: 'v@example.com' },
    remoteAddress: '10.0.0.2',
  })
  t.equal(other.statusCode, 201, 'another address is not limited')
})

t.test('uploads per user are limited; requests without a valid token do not spend the budget', async (t) => {
  const app = await startApp(t, { UPLOAD_RATE_MAX: '2' })
  const ann = await signup(app, 'ann@example.com')
  const bob = await signup(app, 'bob@example.com')
  for (let i = 0; i < 5; i++) {
    const forged = await app.inject({
      method: 'PUT',
      url: `/users/${ann.id}/avatar`,
      headers: { 'content-type': 'image/png', authorization: `Bearer ${bob.token}` },
      payload: fs.readFileSync(fixture('alpha.png')),
    })
    t.equal(forged.statusCode, 403)
  }
  t.equal((await uploadRaw(app, ann, 'alpha.png', 'image/png')).statusCode, 202)
  t.equal((await uploadRaw(app, ann, 'alpha.png', 'image/png')).statusCode, 202)
  const third = await uploadRaw(app, ann, 'alpha.png', 'image/png')
  t.equal(third.statusCode, 429)
  t.equal(third.json().code, 'RATE_LIMITED')
  t.ok(third.headers['retry-after'])
  t.equal((await uploadRaw(app, bob, 'alpha.png', 'image/png')).statusCode, 202, 'another user is not limited')
})

t.test(
  'when image jobs pile up past MAX_PENDING_JOBS, uploads get 503 SERVICE_BUSY; signups keep working',
  async (t) => {
    const app = await startApp(t, { MAX_PENDING_JOBS: '2' })
    const ann = await signup(app, 'ann@example.com')
    await app.runner?.stop(0) // nothing drains the queue
    t.equal((await uploadRaw(app, ann, 'alpha.png', 'image/png')).statusCode, 202)
    t.equal((await uploadRaw(app, ann, 'alpha.png', 'image/png')).statusCode, 202)
    const busy = await uploadRaw(app, ann, 'alpha.png', 'image/png')
    t.equal(busy.statusCode, 503)
    t.equal(busy.json().code, 'SERVICE_BUSY')
    t.match(busy.json().message, /2 image jobs are waiting or arriving/)
    t.equal(busy.headers['retry-after'], '30')
    t.equal((await app.inject({ method: 'POST', url: '/signup', payload: { email: 'b@example.com' } })).statusCode, 201)
  },
)

t.test('when free disk under STORAGE_DIR falls below the floor, uploads get 503; signups keep working', async (t) => {
  const app = await startApp(t, { MIN_FREE_DISK_BYTES: String(Number.MAX_SAFE_INTEGER) })
  const ann = await signup(app, 'ann@example.com')
  const busy = await uploadRaw(app, ann, 'alpha.png', 'image/png')
  t.equal(busy.statusCode, 503)
  t.equal(busy.json().code, 'SERVICE_BUSY')
  t.match(busy.json().message, /bytes free on the disk that receives uploads/)
  t.equal((await app.inject({ method: 'POST', url: '/signup', payload: { email: 'b@example.com' } })).statusCode, 201)
})

t.test('security headers on every answer; the docs page keeps a CSP that lets it load', async (t) => {
  const app = await startApp(t)
  for (const url of ['/healthz', '/no/such/route', `/users/${crypto.randomUUID()}`]) {
    const res = await app.inject({ url })
    t.equal(res.headers['x-content-type-options'], 'nosniff', url)
    // Exactly what the README promises: helmet's page defaults (script-src, style-src…) have no place on JSON.
    const csp = String(res.headers['content-security-policy']).replace(/;\s*/g, '; ')
    t.equal(csp, "default-src 'none'; frame-ancestors 'none'", url)
    t.ok(res.headers['strict-transport-security'], url)
    t.equal(res.headers['x-frame-options'], 'SAMEORIGIN', url)
  }
  const docs = await app.inject({ url: '/docs/' })
  t.equal(docs.statusCode, 200)
  t.match(docs.headers['content-security-policy'], /script-src 'self'/)
  // Every script and style the page names is served, under the same CSP as the page.
  const assets = [...docs.body.matchAll(/(?:src|href)="\.?\/?([^"]+\.(?:js|css))"/g)].map((m) => m[1] as string)
  t.ok(assets.length >= 2, `the page loads its assets: ${assets.join(', ')}`)
  for (const asset of assets) {
    const res = await app.inject({ url: asset.startsWith('docs/') ? `/${asset}` : `/docs/${asset}` })
    t.equal(res.statusCode, 200, asset)
    t.match(res.headers['content-security-policy'], /script-src 'self'/, asset)
  }
})

t.test("a job's event stream carries the same security headers", async (t) => {
  const app = await startApp(t)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const ann = await signup(app, 'ann@example.com')
  const job = ann.jobs[0]?.id as string
  const stream = await openEventStream(`${url}/jobs/${job}/events`, { authorization: `Bearer ${ann.token}` })
  t.teardown(() => stream.close())
  t.equal(stream.status, 200)
  t.equal(stream.headers['x-content-type-options'], 'nosniff')
  t.equal(
    String(stream.headers['content-security-policy']).replace(/;\s*/g, '; '),
    "default-src 'none'; frame-ancestors 'none'",
  )
  t.ok(stream.headers['strict-transport-security'])
  t.equal(stream.headers['x-frame-options'], 'SAMEORIGIN')
})

/** An upload whose body arrives only when `finish()` is called: a request held in flight by the test. */
function uploadInFlight(app: FastifyInstance, user: SignedUp, remoteAddress = '127.0.0.1') {
  const body = new PassThrough()
  const answer = app.inject({
    method: 'PUT',
    url: `/users/${user.id}/avatar`,
    headers: { authorization: `Bearer ${user.token}`, 'content-type': 'image/png' },
    payload: body,
    remoteAddress,
  })
  body.write(png.subarray(0, 100))
  return {
    answer,
    finish() {
      body.end(png.subarray(100))
      return answer
    },
  }
}

const png = fs.readFileSync(fixture('alpha.png'))
const putPng = (app: FastifyInstance, user: SignedUp, remoteAddress = '127.0.0.1') =>
  app.inject({
    method: 'PUT',
    url: `/users/${user.id}/avatar`,
    headers: { authorization: `Bearer ${user.token}`, 'content-type': 'image/png' },
    payload: png,
    remoteAddress,
  })

/** Resolves once the app has taken this many uploads into flight (their slots are taken before the body). */
const arriving = (app: FastifyInstance, n: number) =>
  waitFor(`${n} uploads in flight`, async () => {
    const res = await app.inject({ url: '/metrics' })
    return new RegExp(`^deckhand_uploads_in_flight ${n}$`, 'm').test(res.body)
  })

t.test('uploads still arriving count against MAX_PENDING_JOBS: 503 before the 202s pile up', async (t) => {
  const app = await startApp(t, { MAX_PENDING_JOBS: '2' })
  await app.runner?.stop(0) // nothing drains the queue
  const [ann, bob, cid] = await Promise.all(['ann', 'bob', 'cid'].map((n) => signup(app, `${n}@example.com`)))
  const first = uploadInFlight(app, ann as SignedUp)
  const second = uploadInFlight(app, bob as SignedUp)
  await arriving(app, 2)
  const busy = await putPng(app, cid as SignedUp)
  t.equal(busy.statusCode, 503, 'no job exists yet, but two are on their way')
  t.equal(busy.json().code, 'SERVICE_BUSY')
  t.match(busy.json().message, /2 image jobs are waiting or arriving/)
  t.equal((await first.finish()).statusCode, 202)
  t.equal((await second.finish()).statusCode, 202)
  t.equal((await putPng(app, cid as SignedUp)).statusCode, 503, 'and once they are jobs, they count as jobs')
})

t.test('MAX_UPLOADS_IN_FLIGHT_PER_USER bounds one user; the slot comes back when the upload ends', async (t) => {
  const app = await startApp(t, { MAX_UPLOADS_IN_FLIGHT_PER_USER: '1' })
  const ann = await signup(app, 'ann@example.com')
  const bob = await signup(app, 'bob@example.com')
  const first = uploadInFlight(app, ann)
  await arriving(app, 1)
  const second = await putPng(app, ann)
  t.equal(second.statusCode, 429)
  t.equal(second.json().code, 'UPLOADS_IN_FLIGHT')
  t.equal(second.headers['retry-after'], '1')
  t.equal((await putPng(app, bob)).statusCode, 202, 'another user is not held back')
  t.equal((await first.finish()).statusCode, 202)
  await arriving(app, 0)
  t.equal((await putPng(app, ann)).statusCode, 202, 'the slot was given back')
  const refused = await app.inject({
    method: 'PUT',
    url: `/users/${ann.id}/avatar`,
    headers: { authorization: `Bearer ${ann.token}`, 'content-type': 'image/png' },
    payload: Buffer.from('not an image at all'),
  })
  t.equal(refused.statusCode, 415)
  await arriving(app, 0)
  t.equal((await putPng(app, ann)).statusCode, 202, 'a refused upload gives its slot back too')
})

t.test('MAX_UPLOADS_IN_FLIGHT_PER_IP bounds one client address', async (t) => {
  const app = await startApp(t, { MAX_UPLOADS_IN_FLIGHT_PER_IP: '1' })
  const ann = await signup(app, 'ann@example.com')
  const bob = await signup(app, 'bob@example.com')
  const first = uploadInFlight(app, ann, '10.0.0.1')
  await arriving(app, 1)
  const same = await putPng(app, bob, '10.0.0.1')
  t.equal(same.statusCode, 429)
  t.equal(same.json().code, 'UPLOADS_IN_FLIGHT')
  t.equal((await putPng(app, bob, '10.0.0.2')).statusCode, 202, 'another address is not held back')
  t.equal((await first.finish()).statusCode, 202)
})

t.test("a user's uploads still arriving count against its MAX_PENDING_JOBS_PER_USER share", async (t) => {
  const app = await startApp(t, { MAX_PENDING_JOBS: '10', MAX_PENDING_JOBS_PER_USER: '2' })
  await app.runner?.stop(0) // nothing drains the queue
  const [ann, bob] = (await Promise.all(['ann', 'bob'].map((n) => signup(app, `${n}@example.com`)))) as SignedUp[]
  t.equal((await putPng(app, ann as SignedUp)).statusCode, 202, 'one job of hers')
  const arrivingOne = uploadInFlight(app, ann as SignedUp)
  await arriving(app, 1)
  const over = await putPng(app, ann as SignedUp)
  t.equal(over.statusCode, 429, 'one job and one upload on its way fill her share of 2')
  t.equal(over.json().code, 'TOO_MANY_PENDING_JOBS')
  t.match(over.json().message, /2 of them are waiting or arriving \(this user's share is 2\)/)
  t.equal(over.headers['retry-after'], '1')
  t.equal((await putPng(app, bob as SignedUp)).statusCode, 202, "bob's upload goes on")
  t.equal((await arrivingOne.finish()).statusCode, 202, 'the upload she had on its way was admitted already')
  t.equal((await putPng(app, ann as SignedUp)).statusCode, 429, 'and once it is a job it counts as one')
})
