import t from 'tap'
import { type SignedUp, signup, startApp, waitForJob } from '../helpers/app.ts'
import { countByStatus, fillJobs } from '../helpers/journal.ts'

t.test('GET /jobs/:id shows the owner its job, from queued to succeeded', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const welcome = ann.jobs.find((j) => j.kind === 'mail.welcome') as SignedUp['jobs'][number]
  const done = await waitForJob(app, ann, welcome.id)
  t.equal(done.status, 'succeeded')
  t.equal(done.id, welcome.id)
  t.equal(done.kind, 'mail.welcome')
  t.equal(done.attempts, 1)
  t.ok(Date.parse(done.createdAt) <= Date.parse(done.startedAt))
  t.ok(Date.parse(done.startedAt) <= Date.parse(done.finishedAt))
  t.match(done.result, { messageId: `<${welcome.id}@deckhand.local>`, to: 'ann@example.com' })
  t.notOk('payload' in done, 'the payload (with e-mail addresses) is not shown')
  t.notOk('error' in done)
})

t.test('a job is private: 401 without or with a bad token, 404 for somebody else or nobody', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const bob = await signup(app, 'bob@example.com')
  const jobId = ann.jobs[0]?.id as string
  const get = (authorization?: string, id = jobId) =>
    app.inject({ url: `/jobs/${id}`, headers: authorization ? { authorization } : {} })

  const none = await get()
  t.equal(none.statusCode, 401)
  t.equal(none.json().code, 'UNAUTHORIZED')
  t.equal(none.headers['www-authenticate'], 'Bearer')
  t.equal((await get(`Bearer ${ann.token.slice(0, -1)}x`)).statusCode, 401, 'a wrong secret')
  t.equal((await get(`Basic ${ann.token}`)).statusCode, 401, 'the wrong scheme')
  t.equal((await get(`Bearer ${crypto.randomUUID()}.${ann.token.split('.')[1]}`)).statusCode, 401, 'an unknown user')

  const other = await get(`Bearer ${bob.token}`)
  t.equal(other.statusCode, 404, "another user's job looks like no job")
  t.equal(other.json().code, 'JOB_NOT_FOUND')
  const missing = await get(`Bearer ${ann.token}`, crypto.randomUUID())
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), other.json(), 'the two 404s cannot be told apart')

  const garbage = await get(`Bearer ${ann.token}`, '..%2F..%2Fetc%2Fpasswd')
  t.equal(garbage.statusCode, 400)
  t.equal(garbage.json().code, 'VALIDATION')
})

t.test('GET /users/:id: 404 USER_NOT_FOUND for an unknown id, 400 for a malformed one', async (t) => {
  const app = await startApp(t)
  const missing = await app.inject({ url: `/users/${crypto.randomUUID()}` })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'USER_NOT_FOUND')
  const bad = await app.inject({ url: '/users/not-a-uuid' })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'VALIDATION')
})

t.test('the Bearer scheme is case-insensitive (RFC 9110 §11.1), for users and the admin alike', async (t) => {
  const ADMIN_TOKEN = 'admin-token-for-tests-0123456789'
  const app = await startApp(t, { ADMIN_TOKEN })
  const ann = await signup(app, 'ann@example.com')
  const jobId = ann.jobs[0]?.id as string
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    const mine = await app.inject({ url: `/jobs/${jobId}`, headers: { authorization: `${scheme} ${ann.token}` } })
    t.equal(mine.statusCode, 200, `${scheme}: the user is known`)
    const admin = await app.inject({
      url: '/admin/jobs?status=queued',
      headers: { authorization: `${scheme} ${ADMIN_TOKEN}` },
    })
    t.equal(admin.statusCode, 200, `${scheme}: the admin is known`)
  }
  for (const authorization of [`Basic ${ann.token}`, `Bearer${ann.token}`, ann.token, `Bearer ${ann.token}x`]) {
    const res = await app.inject({ url: `/jobs/${jobId}`, headers: { authorization } })
    t.equal(res.statusCode, 401, `${authorization.slice(0, 12)}…: refused`)
  }
})

t.test('a journal row of a kind this process does not run waits, and the jobs behind it run', async (t) => {
  const app = await startApp(t)
  const db = app.database.db
  // A rolling deploy: a newer process queued jobs of a kind this one has no handler for, before this signup.
  await fillJobs(db, { count: 50, status: 'queued', finishedAt: null, kind: 'banner.render', prefix: 'banner-' })
  await db
    .updateTable('jobs')
    .set({ run_at: Date.now() - 60_000 })
    .where('kind', '=', 'banner.render')
    .execute()
  const ann = await signup(app, 'ann@example.com')
  for (const job of ann.jobs) t.equal((await waitForJob(app, ann, job.id)).status, 'succeeded', job.kind)
  t.same(await countByStatus(db), { queued: 50, succeeded: 2 }, 'the unknown rows wait, untouched')
})
