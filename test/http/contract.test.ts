import t from 'tap'
import { metricValue } from '../../src/bench/stats.ts'
import { getJob, signup, startApp, uploadRaw, waitForJob } from '../helpers/app.ts'
import { startS3rver } from '../helpers/s3.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { startSmtp } from '../helpers/smtp.ts'
import { waitFor } from '../helpers/wait.ts'

const ADMIN_TOKEN = 'admin-token-for-tests-0123456789'

/*
 * One HTTP contract, three ways of running it: embedded (SQLite journal and the folder, the default), scaled out
 * (users and the outbox in PostgreSQL, jobs in BullMQ) and scaled out with files in a bucket (s3rver) rather
 * than a folder. Clients must not be able to tell them apart.
 */
const modes: Record<string, (t: Parameters<typeof scaledEnv>[0]) => Promise<Record<string, string> | undefined>> = {
  'embedded (SQLite journal)': async () => ({}),
  'scaled out (PostgreSQL + BullMQ)': async (t) => ((await servicesAvailable(t)) ? scaledEnv(t) : undefined),
  'scaled out on a bucket (PostgreSQL + BullMQ + S3)': async (t) =>
    (await servicesAvailable(t)) ? { ...(await scaledEnv(t)), ...(await startS3rver(t)).env('contract') } : undefined,
}

for (const [mode, environment] of Object.entries(modes)) {
  t.test(mode, async (t) => {
    const env = await environment(t)
    if (!env) return
    const smtp = await startSmtp()
    t.teardown(() => smtp.close())
    const app = await startApp(t, { ...env, SMTP_URL: smtp.url, ADMIN_TOKEN, MAX_ATTEMPTS: '2' })

    t.test('signup: 201 with a token and two mail jobs, each mailed once; 409 for the same address', async (t) => {
      const ann = await signup(app, 'Ann@Example.com', 'Ann')
      t.equal(ann.jobs.length, 2)
      const queued = await getJob(app, ann, ann.jobs[0]?.id as string)
      t.ok(['queued', 'running', 'succeeded'].includes(queued.status), `readable at once: ${queued.status}`)
      for (const job of ann.jobs) t.equal((await waitForJob(app, ann, job.id)).status, 'succeeded', job.kind)
      const ids = ann.jobs.map((j) => `<${j.id}@deckhand.local>`)
      t.same(smtp.received.filter((m) => ids.includes(m.messageId)).length, 2, 'each mail arrived exactly once')
      const dup = await app.inject({ method: 'POST', url: '/signup', payload: { email: 'ann@example.COM' } })
      t.equal(dup.statusCode, 409)
      t.equal(dup.json().code, 'EMAIL_TAKEN')
      const bad = await app.inject({ method: 'POST', url: '/signup', payload: { email: 'not-an-address' } })
      t.equal(bad.statusCode, 400)
      t.equal(bad.json().code, 'VALIDATION')
    })

    t.test('jobs: only their owner reads them; others get 404, no token 401', async (t) => {
      const bob = await signup(app, 'bob@example.com')
      const eve = await signup(app, 'eve@example.com')
      const url = `/jobs/${bob.jobs[0]?.id}`
      t.equal((await app.inject({ url, headers: { authorization: `Bearer ${eve.token}` } })).statusCode, 404)
      t.equal((await app.inject({ url })).statusCode, 401)
      t.equal((await getJob(app, bob, bob.jobs[0]?.id as string)).kind, 'mail.welcome')
    })

    t.test('avatar: 202, processing, then ready and served in the negotiated format', async (t) => {
      const cat = await signup(app, 'cat@example.com')
      const res = await uploadRaw(app, cat, 'photo-exif.jpg')
      t.equal(res.statusCode, 202)
      t.equal(res.headers.location, `/jobs/${res.json().jobId}`)
      const done = await waitForJob(app, cat, res.json().jobId, 60_000)
      t.equal(done.status, 'succeeded')
      t.equal(done.attempts, 1)
      const profile = (await app.inject({ url: `/users/${cat.id}` })).json()
      t.equal(profile.avatar.status, 'ready')
      t.ok(profile.avatar.placeholder)
      const image = await app.inject({ url: `/users/${cat.id}/avatar?size=64`, headers: { accept: 'image/webp' } })
      t.equal(image.statusCode, 200)
      t.equal(image.headers['content-type'], 'image/webp')
    })

    t.test('a broken image: accepted, then failed with IMAGE_UNDECODABLE, once, no retry', async (t) => {
      const dan = await signup(app, 'dan@example.com')
      const res = await uploadRaw(app, dan, 'truncated.jpg')
      t.equal(res.statusCode, 202)
      const done = await waitForJob(app, dan, res.json().jobId, 60_000)
      t.equal(done.status, 'failed')
      t.equal(done.error.code, 'IMAGE_UNDECODABLE')
      t.equal(done.attempts, 1, 'not retried: the image, not the worker, is at fault')
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }
      const list = await app.inject({ url: '/admin/jobs?status=failed&kind=image.avatar', headers: admin })
      t.ok(
        list.json().jobs.some((j: { id: string }) => j.id === done.id),
        'listed for the admin',
      )
    })

    t.test('/metrics counts jobs by kind and status', async (t) => {
      const metrics = (await app.inject({ url: '/metrics' })).body
      t.ok(metricValue(metrics, 'deckhand_jobs{kind="mail.welcome",status="succeeded"}') >= 1, 'sent mails counted')
      t.ok(metricValue(metrics, 'deckhand_jobs{kind="image.avatar",status="failed"}') >= 1, 'the broken image too')
    })

    t.test(
      'a mail refused for good (5xx) fails at its first attempt with the answer; an admin retry sends it',
      async (t) => {
        let refusing = true
        const failing = await startSmtp({
          verdict: () => (refusing ? { accept: false, code: 550, message: 'no such user' } : { accept: true }),
        })
        t.teardown(() => failing.close())
        // A deployment of its own: workers of the first would take these jobs off the same queues.
        const own = await environment(t)
        const other = await startApp(t, { ...own, SMTP_URL: failing.url, ADMIN_TOKEN, MAX_ATTEMPTS: '3' })
        const eli = await signup(other, 'eli@example.com')
        const welcome = eli.jobs.find((j) => j.kind === 'mail.welcome')?.id as string
        const failed = await waitForJob(other, eli, welcome)
        t.equal(failed.status, 'failed')
        t.equal(failed.attempts, 1, 'one attempt of MAX_ATTEMPTS 3: RFC 5321 makes 5xx permanent')
        t.equal(failed.error.code, 'SMTP_REJECTED')
        t.equal(failed.error.message, 'the mail server refused the message: 550')
        refusing = false
        const retry = await other.inject({
          method: 'POST',
          url: `/admin/jobs/${welcome}/retry`,
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        })
        t.equal(retry.statusCode, 202)
        t.equal(retry.json().id, welcome)
        const again = await waitFor('the retried job to finish', async () => {
          const job = await getJob(other, eli, welcome)
          return job.status === 'succeeded' && job
        })
        t.equal(again.attempts, 1, 'with a fresh set of attempts')
        t.ok(
          failing.received.some((m) => m.messageId === `<${welcome}@deckhand.local>`),
          'and the mail went out',
        )
      },
    )
  })
}
