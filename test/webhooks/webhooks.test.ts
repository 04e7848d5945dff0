import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { metricValue } from '../../src/bench/stats.ts'
import { getJob, type SignedUp, signup, startApp, uploadRaw, waitForJob } from '../helpers/app.ts'
import { type Receiver, startReceiver } from '../helpers/webhook-receiver.ts'

/*
 * Per-user webhooks end to end: the real app, real uploads, and a real HTTP receiver on loopback that verifies
 * every delivery's signature with `standardwebhooks`. Loopback needs WEBHOOK_ALLOW_PRIVATE and http needs
 * WEBHOOK_ALLOW_INSECURE; the guard's refusals without them are in ssrf-guard.test.ts.
 */
const open = { WEBHOOK_ALLOW_INSECURE: 'true', WEBHOOK_ALLOW_PRIVATE: 'true' }
const auth = (user: SignedUp) => ({ authorization: `Bearer ${user.token}` })

async function setWebhook(app: FastifyInstance, user: SignedUp, url: string) {
  return app.inject({ method: 'PUT', url: `/users/${user.id}/webhook`, headers: auth(user), payload: { url } })
}

/** A user with a webhook to `receiver`, whose secret the receiver verifies with. */
async function subscribed(app: FastifyInstance, receiver: Receiver, email: string) {
  const user = await signup(app, email)
  const res = await setWebhook(app, user, `${receiver.url}/hooks/deckhand`)
  if (res.statusCode !== 200) throw new Error(`PUT webhook: ${res.statusCode} ${res.body}`)
  receiver.secret = res.json().secret
  return user
}

async function uploadedJob(app: FastifyInstance, user: SignedUp, fixture: string) {
  const res = await uploadRaw(app, user, fixture)
  if (res.statusCode !== 202) throw new Error(`upload: ${res.statusCode} ${res.body}`)
  return res.json().jobId as string
}

async function metric(app: FastifyInstance, outcome: string) {
  const text = (await app.inject({ url: '/metrics' })).body
  return metricValue(text, `deckhand_webhook_deliveries_total{outcome="${outcome}"}`)
}

/** The delivery job of a delivery, as its owner reads it. */
const deliveryJob = (app: FastifyInstance, user: SignedUp, id: string) => waitForJob(app, user, id)

t.test('PUT, GET and DELETE /users/:id/webhook', async (t) => {
  const app = await startApp(t, open)
  const ann = await signup(app, 'ann@example.com')
  const bob = await signup(app, 'bob@example.com')
  const put = await setWebhook(app, ann, 'http://127.0.0.1:9/hook')
  t.equal(put.statusCode, 200)
  const { url, secret } = put.json()
  t.equal(url, 'http://127.0.0.1:9/hook')
  t.match(secret, /^whsec_[A-Za-z0-9+/]{32}$/, 'a whsec_ secret')
  const got = await app.inject({ url: `/users/${ann.id}/webhook`, headers: auth(ann) })
  t.same(got.json(), { url }, 'GET shows the URL, never the secret')
  const again = await setWebhook(app, ann, 'http://127.0.0.1:9/other')
  t.not(again.json().secret, secret, 'a new PUT rotates the secret')
  t.equal(
    (await app.inject({ url: `/users/${ann.id}/webhook`, headers: auth(bob) })).statusCode,
    403,
    'another user may not read it',
  )
  t.equal((await setWebhook(app, { ...ann, token: bob.token }, 'http://127.0.0.1:9/x')).statusCode, 403, 'nor set it')
  t.equal((await app.inject({ url: `/users/${ann.id}/webhook` })).statusCode, 401, 'no token: 401')
  const del = await app.inject({ method: 'DELETE', url: `/users/${ann.id}/webhook`, headers: auth(ann) })
  t.equal(del.statusCode, 204)
  const gone = await app.inject({ url: `/users/${ann.id}/webhook`, headers: auth(ann) })
  t.equal(gone.statusCode, 404)
  t.equal(gone.json().code, 'WEBHOOK_NOT_FOUND')
  const bad = await app.inject({
    method: 'PUT',
    url: `/users/${ann.id}/webhook`,
    headers: auth(ann),
    payload: { url: 'x'.repeat(3000) },
  })
  t.equal(bad.statusCode, 400, 'a 3000-character URL is refused by the schema')
  t.equal(bad.json().code, 'VALIDATION')
})

t.test('plainly bad URLs: 400 WEBHOOK_URL_REFUSED at PUT, by default', async (t) => {
  const app = await startApp(t)
  const cat = await signup(app, 'cat@example.com')
  const refused = [
    'http://hooks.example.com/x',
    'ftp://hooks.example.com/x',
    'not a url',
    'https://user:pass@hooks.example.com/x',
    'https://127.0.0.1/x',
    'https://[::1]/x',
    'https://10.1.2.3/x',
    'https://192.168.1.1/x',
    'https://172.16.0.1/x',
    'https://169.254.169.254/latest/meta-data',
    'https://100.64.0.1/x',
    'https://224.0.0.1/x',
    'https://0.0.0.0/x',
    'https://[::ffff:127.0.0.1]/x',
    'https://[fd00::1]/x',
    'https://[fe80::1]/x',
    'https://localhost/x',
    'https://api.localhost/x',
    'https://metadata.google.internal/x',
    'https://intranet/x',
    // IPv4-compatible forms (::/96) of 127.0.0.1 and 169.254.169.254; NAT64 of 10.0.0.1; 6to4 of 127.0.0.1.
    'https://[::7f00:1]/x',
    'https://[::a9fe:a9fe]/x',
    'https://[64:ff9b::a00:1]/x',
    'https://[2002:7f00:1::1]/x',
    // Every root dot is stripped before the names are checked.
    'https://localhost../x',
    'https://metadata.google.internal../x',
    'https://api.localhost.../x',
  ]
  for (const url of refused) {
    const res = await setWebhook(app, cat, url)
    t.equal(res.statusCode, 400, `${url}: 400`)
    t.equal(res.json().code, 'WEBHOOK_URL_REFUSED', `${url}: ${res.json().message}`)
  }
  const ok = await setWebhook(app, cat, 'https://hooks.example.com/deckhand')
  t.equal(ok.statusCode, 200, 'a public https URL is taken')
  // Public IPv4 addresses in IPv6 forms the guard lets through (ssrf-guard.test.ts): IPv4-mapped, NAT64.
  for (const url of ['https://[::ffff:8.8.8.8]/x', 'https://[64:ff9b::808:808]/x']) {
    t.equal((await setWebhook(app, cat, url)).statusCode, 200, `${url}: taken`)
  }
})

t.test('avatar.ready and avatar.failed, signed, with the job view as data', async (t) => {
  const receiver = await startReceiver(t)
  const app = await startApp(t, open)
  const dan = await subscribed(app, receiver, 'dan@example.com')
  const good = await uploadedJob(app, dan, 'photo-exif.jpg')
  const [ready] = await receiver.waitFor(1)
  const view = await getJob(app, dan, good)
  t.ok(ready?.verified.ok, `standardwebhooks verifies the signature: ${JSON.stringify(ready?.verified)}`)
  t.equal(ready?.path, '/hooks/deckhand')
  t.equal(ready?.headers['content-type'], 'application/json')
  if (ready?.verified.ok) {
    t.equal(ready.verified.payload.type, 'avatar.ready')
    t.same(ready.verified.payload.data, view, 'data is what GET /jobs/:id shows of the avatar job')
  }
  const bad = await uploadedJob(app, dan, 'truncated.jpg')
  const [, failed] = await receiver.waitFor(2)
  t.ok(failed?.verified.ok)
  if (failed?.verified.ok) {
    t.equal(failed.verified.payload.type, 'avatar.failed')
    t.equal((failed.verified.payload.data as { id: string }).id, bad)
    t.equal((failed.verified.payload.data as { error: { code: string } }).error.code, 'IMAGE_UNDECODABLE')
  }
  await deliveryJob(app, dan, failed?.headers['webhook-id'] as string)
  const delivery = await deliveryJob(app, dan, ready?.headers['webhook-id'] as string)
  t.equal(delivery.kind, 'webhook.delivery', "the webhook-id is the delivery job's id")
  t.equal(delivery.status, 'succeeded')
  t.equal(delivery.attempts, 1)
  t.equal(await metric(app, 'delivered'), 2, '/metrics counts both')

  // A wrong secret does not verify: the receiver's check can fail.
  receiver.secret = 'whsec_' + Buffer.alloc(24, 1).toString('base64')
  await uploadedJob(app, dan, 'photo-exif.jpg')
  const [, , third] = await receiver.waitFor(3)
  t.notOk(third?.verified.ok, 'a delivery checked with another secret fails verification')
})

t.test('a 503 is retried with the same webhook-id; Retry-After is honoured', async (t) => {
  const receiver = await startReceiver(t)
  receiver.answers.push({ status: 503, headers: { 'retry-after': '1' } }, { status: 429 }, { status: 204 })
  // RETRY_MAX_MS caps any one delay, Retry-After's too: raised above the second asked for.
  const app = await startApp(t, { ...open, RETRY_MAX_MS: '5000' })
  const eve = await subscribed(app, receiver, 'eve@example.com')
  await uploadedJob(app, eve, 'photo-exif.jpg')
  const [first, second, third] = await receiver.waitFor(3)
  const ids = [first, second, third].map((d) => d?.headers['webhook-id'])
  t.equal(new Set(ids).size, 1, `one webhook-id on every attempt: ${ids}`)
  t.ok(
    [first, second, third].every((d) => d?.verified.ok),
    'each attempt signed anew and verified',
  )
  const gap = (second?.at ?? 0) - (first?.at ?? 0)
  t.ok(gap >= 950, `Retry-After: 1 waited a second, not RETRY_BASE_MS (20 ms): ${gap} ms`)
  t.ok(gap < 5000, `and not much more: ${gap} ms`)
  const delivery = await deliveryJob(app, eve, ids[0] as string)
  t.equal(delivery.status, 'succeeded')
  t.equal(delivery.attempts, 3, 'GET /jobs/:id of the delivery shows its attempts')
  t.equal(await metric(app, 'error'), 2)
  t.equal(await metric(app, 'delivered'), 1)
})

t.test('a 410 removes the webhook and ends the delivery', async (t) => {
  const receiver = await startReceiver(t)
  receiver.answers.push({ status: 410 })
  const app = await startApp(t, open)
  const fay = await subscribed(app, receiver, 'fay@example.com')
  await uploadedJob(app, fay, 'photo-exif.jpg')
  const [gone] = await receiver.waitFor(1)
  const delivery = await deliveryJob(app, fay, gone?.headers['webhook-id'] as string)
  t.equal(delivery.status, 'failed')
  t.equal(delivery.error.code, 'WEBHOOK_GONE')
  t.equal(delivery.attempts, 1, 'not retried')
  const hook = await app.inject({ url: `/users/${fay.id}/webhook`, headers: auth(fay) })
  t.equal(hook.statusCode, 404, 'the webhook is gone')
  await uploadedJob(app, fay, 'photo-exif.jpg')
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal(receiver.deliveries.length, 1, 'no more deliveries')
  t.equal(await metric(app, 'gone'), 1)
})

t.test('a redirect is not followed: a failed attempt, retried, until the attempts are spent', async (t) => {
  const receiver = await startReceiver(t)
  const moved = { status: 302, headers: { location: '/elsewhere' } }
  receiver.answers.push(moved, moved)
  const app = await startApp(t, { ...open, MAX_ATTEMPTS: '2' })
  const gus = await subscribed(app, receiver, 'gus@example.com')
  await uploadedJob(app, gus, 'photo-exif.jpg')
  const [first] = await receiver.waitFor(2)
  const delivery = await deliveryJob(app, gus, first?.headers['webhook-id'] as string)
  t.equal(delivery.status, 'failed')
  t.equal(delivery.error.code, 'WEBHOOK_ERROR')
  t.match(delivery.error.message, /302/)
  t.equal(delivery.attempts, 2, 'MAX_ATTEMPTS')
  t.same(
    receiver.deliveries.map((d) => d.path),
    ['/hooks/deckhand', '/hooks/deckhand'],
    '/elsewhere was never asked for',
  )
})

t.test('any other 4xx fails the delivery at once', async (t) => {
  const receiver = await startReceiver(t)
  receiver.answers.push({ status: 400 })
  const app = await startApp(t, open)
  const hal = await subscribed(app, receiver, 'hal@example.com')
  await uploadedJob(app, hal, 'photo-exif.jpg')
  const [first] = await receiver.waitFor(1)
  const delivery = await deliveryJob(app, hal, first?.headers['webhook-id'] as string)
  t.equal(delivery.status, 'failed')
  t.equal(delivery.error.code, 'WEBHOOK_REJECTED')
  t.equal(delivery.attempts, 1)
  t.equal(await metric(app, 'rejected'), 1)
})

t.test('a receiver that never answers: WEBHOOK_TIMEOUT_MS, then retried', async (t: Test) => {
  const receiver = await startReceiver(t)
  receiver.answers.push('hang')
  const app = await startApp(t, { ...open, WEBHOOK_TIMEOUT_MS: '300' })
  const ida = await subscribed(app, receiver, 'ida@example.com')
  await uploadedJob(app, ida, 'photo-exif.jpg')
  const [first, second] = await receiver.waitFor(2)
  // The timer starts before the connection, the receiver's clock once the body is in: on a loaded machine that
  // takes tens of milliseconds, so the hold is measured with slack below the timeout and far below the default.
  const held = (first?.closedAt ?? Number.POSITIVE_INFINITY) - (first?.at ?? 0)
  t.ok(held >= 200 && held < 2000, `the hanging request was cut after about WEBHOOK_TIMEOUT_MS: ${held} ms`)
  t.ok((second?.at ?? 0) >= (first?.closedAt ?? Number.POSITIVE_INFINITY), 'the second attempt came after the cut')
  const delivery = await deliveryJob(app, ida, first?.headers['webhook-id'] as string)
  t.equal(delivery.status, 'succeeded')
  t.equal(delivery.attempts, 2)
  t.notOk(delivery.error, 'no error left on success')
})
