import t from 'tap'
import { getJob, signup, startApp, waitForJob } from '../helpers/app.ts'
import { startSmtp } from '../helpers/smtp.ts'
import { waitFor } from '../helpers/wait.ts'

const ADMIN_TOKEN = 'admin-token-for-tests-0123456789'
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }

t.test('the admin API answers 401 without ADMIN_TOKEN configured, or with a wrong token', async (t) => {
  const off = await startApp(t)
  const res = await off.inject({ url: '/admin/jobs?status=failed', headers: admin })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'UNAUTHORIZED')
  const on = await startApp(t, { ADMIN_TOKEN })
  t.equal(
    (await on.inject({ url: '/admin/jobs?status=failed', headers: { authorization: 'Bearer nope' } })).statusCode,
    401,
  )
  t.equal((await on.inject({ url: '/admin/jobs?status=failed' })).statusCode, 401)
  t.equal((await on.inject({ url: '/admin/jobs?status=failed', headers: admin })).statusCode, 200)
})

t.test('failed jobs are listed and can be retried with a fresh set of attempts', async (t) => {
  let refusing = true
  const smtp = await startSmtp({
    verdict: () => (refusing ? { accept: false, code: 550, message: 'no such user' } : { accept: true }),
  })
  t.teardown(() => smtp.close())
  const app = await startApp(t, { ADMIN_TOKEN, SMTP_URL: smtp.url, MAX_ATTEMPTS: '1' })
  const ann = await signup(app, 'ann@example.com')
  await waitFor('both mail jobs failed', async () => {
    const jobs = await Promise.all(ann.jobs.map((j) => getJob(app, ann, j.id)))
    return jobs.every((j) => j.status === 'failed')
  })

  const list = await app.inject({ url: '/admin/jobs?status=failed&kind=mail.welcome', headers: admin })
  t.equal(list.statusCode, 200)
  const welcome = ann.jobs.find((j) => j.kind === 'mail.welcome')?.id
  t.same(
    list.json().jobs.map((j: { id: string }) => j.id),
    [welcome],
  )
  t.equal(list.json().jobs[0].ownerId, ann.id)
  t.equal(list.json().jobs[0].error.code, 'SMTP_REJECTED')
  t.equal((await app.inject({ url: '/admin/jobs?status=lost', headers: admin })).statusCode, 400)

  refusing = false
  const retry = await app.inject({ method: 'POST', url: `/admin/jobs/${welcome}/retry`, headers: admin })
  t.equal(retry.statusCode, 202)
  t.equal(retry.json().status, 'queued')
  t.equal(retry.json().attempts, 0)
  const done = await waitForJob(app, ann, welcome as string)
  t.equal(done.status, 'succeeded', 'the retried job succeeded')
  t.equal(done.attempts, 1)
  t.equal(smtp.received.length, 1)

  const again = await app.inject({ method: 'POST', url: `/admin/jobs/${welcome}/retry`, headers: admin })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'JOB_NOT_FAILED')
  const missing = await app.inject({ method: 'POST', url: `/admin/jobs/${crypto.randomUUID()}/retry`, headers: admin })
  t.equal(missing.statusCode, 404)
})
