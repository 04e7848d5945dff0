import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { type SignedUp, signup, startApp, uploadRaw, waitForJob } from '../helpers/app.ts'
import { fillImageLane } from '../helpers/image-lane.ts'
import { checkOrder, openEventStream } from '../helpers/sse.ts'

/*
 * GET /jobs/:id/events over real HTTP (the app listening on a loopback port), embedded mode: the SQLite journal's
 * own change events. Both modes with separate api and worker processes: test/scale-out/job-events.test.ts.
 */

async function listening(t: Parameters<typeof startApp>[0], env: Record<string, string> = {}) {
  // One image thread: the lane takes two jobs (one waits in the pool), and the next upload waits, queued.
  const app = await startApp(t, { POOL_THREADS: '1', ...env })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url: address }
}

const auth = (user: SignedUp) => ({ authorization: `Bearer ${user.token}` })

async function upload(app: FastifyInstance, user: SignedUp, fixture: string): Promise<string> {
  const res = await uploadRaw(app, user, fixture)
  if (res.statusCode !== 202) throw new Error(`upload ${fixture}: ${res.statusCode} ${res.body}`)
  return res.json().jobId
}

/** Fills the image lane (one pool thread) with large photos, so that the next upload waits. */
const holdLane = (app: FastifyInstance, user: SignedUp) => fillImageLane(1, () => upload(app, user, 'photo-12mp.jpg'))

async function finish(app: FastifyInstance, user: SignedUp, ids: string[]) {
  for (const id of ids) await waitForJob(app, user, id)
}

t.test('a good image: queued, running through its stages, succeeded with the body of GET /jobs/:id', async (t) => {
  const { app, url } = await listening(t)
  const ann = await signup(app, 'ann@example.com')
  const first = await holdLane(app, ann)
  const second = await upload(app, ann, 'photo-exif.jpg')
  // The first two hold the lane: the second is still queued when its stream opens.
  const stream = await openEventStream(`${url}/jobs/${second}/events`, auth(ann))
  t.equal(stream.status, 200)
  t.match(stream.headers['content-type'], /^text\/event-stream/)
  await stream.ended
  const ids = stream.events.map((e) => e.id)
  t.same(ids, ['queued', 'running', 'running.resizing', 'running.publishing', 'succeeded'], 'every step, in order')
  checkOrder(t, stream.events, 'succeeded')
  t.same(stream.events[0]?.data, { id: second, status: 'queued' })
  t.same(stream.events[2]?.data, { id: second, status: 'running', stage: 'resizing' })
  const final = stream.events.at(-1)?.data as { status: string; result: { current: boolean } }
  const view = (await app.inject({ url: `/jobs/${second}`, headers: auth(ann) })).json()
  t.same(final, view, 'the final event carries what GET /jobs/:id answers')
  t.equal(final.result.current, true)
  await finish(app, ann, first)
})

t.test('a broken image: its stream ends with failed and the error, after one attempt', async (t) => {
  const { app, url } = await listening(t)
  const bob = await signup(app, 'bob@example.com')
  const job = await upload(app, bob, 'truncated.jpg')
  const stream = await openEventStream(`${url}/jobs/${job}/events`, auth(bob))
  await stream.ended
  checkOrder(t, stream.events, 'failed')
  t.notOk(
    stream.events.some((e) => e.id === 'running.publishing'),
    'never published',
  )
  const final = stream.events.at(-1)?.data as { status: string; attempts: number; error: { code: string } }
  t.equal(final.status, 'failed')
  t.equal(final.attempts, 1, 'not retried')
  t.equal(final.error.code, 'IMAGE_UNDECODABLE')
})

t.test('a finished job: its final event at once; reconnecting with its id: 204, the end', async (t) => {
  const { app, url } = await listening(t)
  const cat = await signup(app, 'cat@example.com')
  const job = await upload(app, cat, 'photo-exif.jpg')
  await waitForJob(app, cat, job)
  const stream = await openEventStream(`${url}/jobs/${job}/events`, auth(cat))
  await stream.ended
  t.same(
    stream.events.map((e) => e.id),
    ['succeeded'],
    'only the final event',
  )
  const again = await openEventStream(`${url}/jobs/${job}/events`, { ...auth(cat), 'last-event-id': 'succeeded' })
  t.equal(again.status, 204, 'an EventSource stops reconnecting on 204')
  const stale = await openEventStream(`${url}/jobs/${job}/events`, { ...auth(cat), 'last-event-id': 'queued' })
  await stale.ended
  t.same(
    stale.events.map((e) => e.id),
    ['succeeded'],
    'a client that missed the end gets it at once',
  )
})

t.test('reconnect with Last-Event-ID: the current state at once unless the client has it', async (t) => {
  const { app, url } = await listening(t)
  const dan = await signup(app, 'dan@example.com')
  const first = await holdLane(app, dan)
  const second = await upload(app, dan, 'photo-exif.jpg')
  const one = await openEventStream(`${url}/jobs/${second}/events`, auth(dan))
  const [queued] = await one.waitForEvents(1)
  t.equal(queued?.id, 'queued')
  one.close()
  // It still waits behind the first: a client that has "queued" hears nothing new yet...
  const two = await openEventStream(`${url}/jobs/${second}/events`, { ...auth(dan), 'last-event-id': 'queued' })
  t.equal(two.status, 200)
  // ...and then what it missed from there on, to the end.
  await two.ended
  t.equal(two.events[0]?.id, 'running', 'nothing repeated: the first event is the next state')
  checkOrder(t, two.events, 'succeeded')
  // A client that saw an older state than the current one gets the current one first.
  await finish(app, dan, first)
})

t.test('a comment line keeps an idle stream open; a reconnect with the current id still gets headers', async (t) => {
  const { app, url } = await listening(t, { JOB_EVENTS_HEARTBEAT_MS: '200' })
  const eve = await signup(app, 'eve@example.com')
  const first = await holdLane(app, eve)
  const second = await upload(app, eve, 'photo-12mp.jpg')
  const stream = await openEventStream(`${url}/jobs/${second}/events`, { ...auth(eve), 'last-event-id': 'queued' })
  t.equal(stream.status, 200)
  await new Promise((resolve) => setTimeout(resolve, 700))
  // Every 200 ms from the headers on, whether events came meanwhile or not.
  t.ok(stream.comments.length >= 2, `comment lines in 700 ms: ${stream.comments.length}`)
  t.ok(stream.comments.every((c) => c === 'heartbeat'))
  stream.close()
  await finish(app, eve, first)
  await waitForJob(app, eve, second)
})

t.test('open streams count against JOB_WAITERS_MAX: past it, 503 SERVICE_BUSY with Retry-After', async (t) => {
  const { app, url } = await listening(t, { JOB_WAITERS_MAX: '2', JOB_WAITERS_PER_USER: '2' })
  const fay = await signup(app, 'fay@example.com')
  const first = await holdLane(app, fay)
  const second = await upload(app, fay, 'photo-12mp.jpg')
  const a = await openEventStream(`${url}/jobs/${second}/events`, auth(fay))
  const b = await openEventStream(`${url}/jobs/${second}/events`, auth(fay))
  await Promise.all([a.waitForEvents(1), b.waitForEvents(1)])
  const c = await openEventStream(`${url}/jobs/${second}/events`, auth(fay))
  t.equal(c.status, 503)
  t.ok(Number(c.headers['retry-after']) > 0, 'Retry-After')
  t.equal(JSON.parse(await c.body()).code, 'SERVICE_BUSY')
  t.equal(app.waiters.size, 2, 'two slots held')
  a.close()
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(app.waiters.size, 1, 'a closed stream gives its slot back')
  const d = await openEventStream(`${url}/jobs/${second}/events`, auth(fay))
  t.equal(d.status, 200, 'and the next stream gets it')
  d.close()
  b.close()
  await finish(app, fay, first)
  await waitForJob(app, fay, second)
})

t.test("another user's job, a missing one, no token: JSON errors, not a stream", async (t) => {
  const { app, url } = await listening(t)
  const gus = await signup(app, 'gus@example.com')
  const hal = await signup(app, 'hal@example.com')
  const job = await upload(app, gus, 'photo-exif.jpg')
  const theirs = await openEventStream(`${url}/jobs/${job}/events`, auth(hal))
  t.equal(theirs.status, 404)
  t.equal(JSON.parse(await theirs.body()).code, 'JOB_NOT_FOUND')
  const none = await openEventStream(`${url}/jobs/${job}/events`)
  t.equal(none.status, 401)
  t.equal(JSON.parse(await none.body()).code, 'UNAUTHORIZED')
  const bad = await openEventStream(`${url}/jobs/not-a-uuid/events`, auth(gus))
  t.equal(bad.status, 400)
  t.equal(JSON.parse(await bad.body()).code, 'VALIDATION')
  await waitForJob(app, gus, job)
})

t.test('shutdown ends open streams cleanly, and close() does not wait on them', async (t) => {
  const { app, url } = await listening(t, { SHUTDOWN_GRACE_MS: '100' })
  const ida = await signup(app, 'ida@example.com')
  await holdLane(app, ida)
  const second = await upload(app, ida, 'photo-12mp.jpg')
  const stream = await openEventStream(`${url}/jobs/${second}/events`, auth(ida))
  await stream.waitForEvents(1)
  const started = Date.now()
  await app.close()
  await stream.ended
  t.ok(Date.now() - started < 5000, `closed in ${Date.now() - started} ms`)
  t.notOk(
    stream.events.some((e) => e.event === 'succeeded' || e.event === 'failed'),
    'no final event: the job was not finished',
  )
})

t.test("one user's streams are bounded by JOB_WAITERS_PER_USER; another user's still open", async (t) => {
  const { app, url } = await listening(t, { JOB_WAITERS_MAX: '10', JOB_WAITERS_PER_USER: '1' })
  const jon = await signup(app, 'jon@example.com')
  const kim = await signup(app, 'kim@example.com')
  const first = await holdLane(app, jon)
  const jons = await upload(app, jon, 'photo-12mp.jpg')
  const kims = await upload(app, kim, 'photo-12mp.jpg')
  const a = await openEventStream(`${url}/jobs/${jons}/events`, auth(jon))
  await a.waitForEvents(1)
  const b = await openEventStream(`${url}/jobs/${jons}/events`, auth(jon))
  t.equal(b.status, 503, "jon's second stream is refused")
  const c = await openEventStream(`${url}/jobs/${kims}/events`, auth(kim))
  t.equal(c.status, 200, "kim's is not")
  a.close()
  c.close()
  await finish(app, jon, [...first, jons])
  await waitForJob(app, kim, kims)
})

t.test('the OpenAPI document describes the stream as text/event-stream', async (t) => {
  const app = await startApp(t)
  const doc = (await app.inject({ url: '/docs/json' })).json()
  t.equal(doc.openapi, '3.1.0')
  const events = doc.paths['/jobs/{id}/events'].get
  t.ok(events.responses['200'].content['text/event-stream'], 'text/event-stream')
  t.ok(events.responses['503'], 'the limit is documented')
  t.same(Object.keys(doc.webhooks).sort(), ['avatar.failed', 'avatar.ready'], 'webhooks, as OpenAPI 3.1 has them')
  t.ok(doc.webhooks['avatar.ready'].post.requestBody.content['application/json'].schema)
  t.ok(doc.paths['/users/{id}/webhook'].put && doc.paths['/users/{id}/webhook'].delete)
})
