import fs from 'node:fs'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { fastEnv, getJob, signup, startApp, storedFiles, tempDataDir, uploadRaw, waitForJob } from '../helpers/app.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
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

t.test('wrong admin tokens from one address: 429 AUTH_FAILURES with Retry-After, the right one too', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN, ADMIN_AUTH_FAILURES_MAX: '4', ADMIN_AUTH_FAILURES_WINDOW_MS: '60000' })
  const get = (headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
    app.inject({ url: '/admin/jobs', headers, remoteAddress })
  for (let i = 0; i < 3; i++) t.equal((await get(admin)).statusCode, 200, 'the right token is never slowed')
  for (let i = 0; i < 5; i++) t.equal((await get({})).statusCode, 401, 'no token sent: not a guess, not counted')
  for (let i = 0; i < 4; i++) {
    const res = await get({ authorization: `Bearer wrong-token-${i}` })
    t.equal(res.statusCode, 401, `wrong token ${i + 1}`)
    t.equal(res.json().code, 'UNAUTHORIZED')
  }
  for (const headers of [{ authorization: 'Bearer wrong-token-5' }, admin]) {
    const refused = await get(headers)
    t.equal(refused.statusCode, 429)
    t.equal(refused.json().code, 'AUTH_FAILURES')
    const retryAfter = Number(refused.headers['retry-after'])
    t.ok(retryAfter > 50 && retryAfter <= 60, `Retry-After: ${retryAfter}`)
  }
  const retry = await app.inject({ method: 'POST', url: `/admin/jobs/${crypto.randomUUID()}/retry`, headers: admin })
  t.equal(retry.statusCode, 429, 'every admin route')
  t.equal((await get(admin, '192.0.2.8')).statusCode, 200, 'another address is not blocked')
  // The dashboard's login guesses the same token: it shares the budget.
  const login = await app.inject({
    method: 'POST',
    url: '/dashboard/login',
    headers: { origin: 'http://localhost', host: 'localhost' },
    payload: { token: ADMIN_TOKEN },
  })
  t.equal(login.statusCode, 429)
  t.equal(login.json().code, 'AUTH_FAILURES')
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

t.test('an avatar whose image was at fault (its original deleted) is not retried: 409 JOB_NOT_RETRYABLE', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN })
  const ann = await signup(app, 'ann@example.com')
  const jobId = (await uploadRaw(app, ann, 'truncated.jpg')).json().jobId as string
  const failed = await waitForJob(app, ann, jobId)
  t.equal(failed.status, 'failed')
  t.equal(failed.error.code, 'IMAGE_UNDECODABLE')
  t.same(fs.readdirSync(storedFiles(app).originals), [], 'the handler deleted the original')

  const retry = await app.inject({ method: 'POST', url: `/admin/jobs/${jobId}/retry`, headers: admin })
  t.equal(retry.statusCode, 409)
  t.equal(retry.json().code, 'JOB_NOT_RETRYABLE')
  t.match(retry.json().message, /IMAGE_UNDECODABLE.*upload another/)
  const after = await app.queue.get(jobId)
  t.equal(after?.status, 'failed', 'the job was left as it was')
  t.equal(after?.lastError?.code, 'IMAGE_UNDECODABLE', 'not turned into INTERNAL "the uploaded original is missing"')
})

t.test('an avatar that failed for another reason is not retried once its original is gone', async (t) => {
  // A worker that throws keeps the original (the fault was not the image's): retryable while the original is there.
  const faultyWorker = new URL('../helpers/faulty-worker.ts', import.meta.url).href
  const config = loadConfig({ ...fastEnv, DATA_DIR: tempDataDir(t), ADMIN_TOKEN, MAX_ATTEMPTS: '1', POOL_THREADS: '1' })
  const app = await buildApp(config, { workerFile: faultyWorker })
  t.teardown(() => app.close())
  await app.ready()
  const ann = await signup(app, 'ann@example.com')
  const upload = async () => (await uploadRaw(app, ann, 'image.tiff', 'image/tiff')).json().jobId as string
  const kept = await upload()
  t.equal((await waitForJob(app, ann, kept, 30_000)).error?.code, 'WORKER_FAILED')
  const gone = await upload()
  t.equal((await waitForJob(app, ann, gone, 30_000)).error?.code, 'WORKER_FAILED')
  const original = (await app.queue.get(gone))?.payload as { original: string }
  fs.rmSync(storedFiles(app).original(original.original))

  const refused = await app.inject({ method: 'POST', url: `/admin/jobs/${gone}/retry`, headers: admin })
  t.equal(refused.statusCode, 409)
  t.equal(refused.json().code, 'JOB_NOT_RETRYABLE')
  t.match(refused.json().message, /original is gone/)
  const taken = await app.inject({ method: 'POST', url: `/admin/jobs/${kept}/retry`, headers: admin })
  t.equal(taken.statusCode, 202, 'its original kept, the other is retried')
  t.equal(taken.json().status, 'queued')
})

/** Without `status`, GET /admin/jobs lists every status, newest first: here succeeded mails and a failed avatar. */
async function listsEveryStatus(t: Test, env: Record<string, string>) {
  const config = loadConfig({ ...fastEnv, DATA_DIR: tempDataDir(t), ADMIN_TOKEN, ...env })
  const app = await buildApp(config)
  t.teardown(() => app.close())
  await app.ready()
  const ann = await signup(app, 'ann@example.com')
  for (const job of ann.jobs) t.equal((await waitForJob(app, ann, job.id)).status, 'succeeded')
  const avatar = (await uploadRaw(app, ann, 'truncated.jpg')).json().jobId as string
  t.equal((await waitForJob(app, ann, avatar)).status, 'failed')

  const all = await app.inject({ url: '/admin/jobs', headers: admin })
  t.equal(all.statusCode, 200)
  const jobs = all.json().jobs as { id: string; status: string; createdAt: string }[]
  t.equal(jobs[0]?.id, avatar, 'the newest (the avatar) first')
  t.same(new Set(jobs.map((j) => j.id)), new Set([avatar, ...ann.jobs.map((j) => j.id)]), 'every job')
  t.same(new Set(jobs.map((j) => j.status)), new Set(['failed', 'succeeded']), 'of every status')
  const times = jobs.map((j) => Date.parse(j.createdAt))
  t.same(
    times,
    [...times].sort((a, b) => b - a),
    'newest first',
  )
  const one = await app.inject({ url: '/admin/jobs?limit=1', headers: admin })
  t.same(
    one.json().jobs.map((j: { id: string }) => j.id),
    [avatar],
    'limit counts across statuses',
  )
  const mails = await app.inject({ url: '/admin/jobs?kind=mail.welcome', headers: admin })
  t.same(
    mails.json().jobs.map((j: { kind: string }) => j.kind),
    ['mail.welcome'],
  )
}

t.test('GET /admin/jobs without status lists every status (journal)', async (t) => listsEveryStatus(t, {}))

t.test('GET /admin/jobs without status lists every status (BullMQ and PostgreSQL)', async (t) => {
  if (!(await servicesAvailable(t))) return
  await listsEveryStatus(t, await scaledEnv(t))
})
