import t from 'tap'
import { metricValue } from '../../src/bench/stats.ts'
import { preferredWaitSeconds } from '../../src/jobs/job-waiters.ts'
import { getJob, type SignedUp, signup, startApp } from '../helpers/app.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { startSmtp } from '../helpers/smtp.ts'
import { waitFor } from '../helpers/wait.ts'

/*
 * GET /jobs/:id with `Prefer: wait=N` (RFC 7240): the answer waits for the job to finish, so clients need not
 * poll. POLL_INTERVAL_MS (the server's own fallback look) is an hour in these tests, so an early answer can
 * only come from the job's settle event.
 */
const noFallback = { POLL_INTERVAL_MS: '60000' }

function getWaiting(app: Awaited<ReturnType<typeof startApp>>, user: SignedUp, jobId: string, prefer: string) {
  return app.inject({ url: `/jobs/${jobId}`, headers: { authorization: `Bearer ${user.token}`, prefer } })
}

/** The first attempt failed and the job waits, queued, for a retry an hour away. */
const waitingToRetry = (job: { status: string; attempts: number }) => job.status === 'queued' && job.attempts === 1

const modes: Record<string, (t: Parameters<typeof scaledEnv>[0]) => Promise<Record<string, string> | undefined>> = {
  'embedded (SQLite journal)': async () => ({}),
  'scaled out (PostgreSQL + BullMQ: woken through BullMQ queue events)': async (t) =>
    (await servicesAvailable(t)) ? scaledEnv(t) : undefined,
}

for (const [mode, environment] of Object.entries(modes)) {
  t.test(`Prefer: wait answers as soon as the job has finished: ${mode}`, async (t) => {
    const env = await environment(t)
    if (!env) return
    // A slow relay: the welcome mail is running for a second and a half.
    const smtp = await startSmtp({ delayMs: 1500 })
    t.teardown(() => smtp.close())
    const app = await startApp(t, { ...env, ...noFallback, SMTP_URL: smtp.url })
    const ann = await signup(app, 'ann@example.com')
    const welcome = ann.jobs.find((j) => j.kind === 'mail.welcome')?.id as string

    const started = Date.now()
    const res = await getWaiting(app, ann, welcome, 'wait=30')
    const took = Date.now() - started
    t.equal(res.statusCode, 200)
    t.equal(res.json().status, 'succeeded', 'one request, and the outcome is in it')
    t.equal(res.headers['preference-applied'], 'wait=30')
    t.ok(took >= 1000, `it waited for the relay (${took} ms)`)
    t.ok(took < 20_000, `and answered when the job finished, not when 30 s were up (${took} ms)`)
    t.equal(smtp.received.filter((m) => m.messageId === `<${welcome}@deckhand.local>`).length, 1)

    const again = await getWaiting(app, ann, welcome, 'wait=30')
    t.equal(again.json().status, 'succeeded', 'a finished job answers at once')
    t.notOk(again.headers['preference-applied'], 'with nothing waited for')
  })
}

/**
 * Ann signed up against a relay that answers 451 to every try, her retries an hour away: both her mail jobs sit
 * queued, waiting to retry, for the rest of the test.
 */
async function stuckMail(t: Parameters<typeof startApp>[0], env: Record<string, string> = {}) {
  const smtp = await startSmtp({ verdict: () => ({ accept: false, code: 451, message: 'try again later' }) })
  t.teardown(() => smtp.close())
  const app = await startApp(t, {
    ...noFallback,
    ...env,
    SMTP_URL: smtp.url,
    RETRY_BASE_MS: '3600000',
    RETRY_MAX_MS: '3600000',
  })
  const ann = await signup(app, 'ann@example.com')
  const idOf = (kind: string) => ann.jobs.find((j) => j.kind === kind)?.id as string
  const [welcome, notice] = [idOf('mail.welcome'), idOf('mail.admin-notice')]
  await waitFor('both first attempts to fail', async () => {
    const jobs = await Promise.all([getJob(app, ann, welcome), getJob(app, ann, notice)])
    return jobs.every(waitingToRetry)
  })
  return { app, ann, welcome, notice }
}

t.test('a job still pending when the wait is over is answered as it is; the wait is capped', async (t) => {
  const { app, ann, welcome } = await stuckMail(t, { JOB_WAIT_MAX_MS: '2000' })

  let started = Date.now()
  const short = await getWaiting(app, ann, welcome, 'respond-async, wait=1')
  let took = Date.now() - started
  t.equal(short.statusCode, 200)
  t.equal(short.json().status, 'queued')
  t.ok(short.json().nextAttemptAt, 'still waiting to retry, and says when')
  t.equal(short.headers['preference-applied'], 'wait=1')
  t.ok(took >= 900 && took < 1900, `waited the second asked for (${took} ms)`)

  started = Date.now()
  const long = await getWaiting(app, ann, welcome, 'wait=600')
  took = Date.now() - started
  t.equal(long.json().status, 'queued')
  t.equal(long.headers['preference-applied'], 'wait=2', 'the wait applied is JOB_WAIT_MAX_MS, not 600 s')
  t.ok(took >= 1900 && took < 5000, `held no longer than JOB_WAIT_MAX_MS (${took} ms)`)

  started = Date.now()
  const plain = await getJob(app, ann, welcome)
  t.equal(plain.status, 'queued')
  t.ok(Date.now() - started < 1000, 'without Prefer: wait the answer is immediate')
})

t.test('past JOB_WAITERS_MAX, or with waiting off, a request is answered at once', async (t) => {
  for (const env of [{ JOB_WAITERS_MAX: '1' }, { JOB_WAIT_MAX_MS: '0' }] as Record<string, string>[]) {
    const { app, ann, welcome, notice } = await stuckMail(t, env)
    const holding = env.JOB_WAITERS_MAX ? getWaiting(app, ann, welcome, 'wait=3') : undefined
    await new Promise((resolve) => setTimeout(resolve, 100))
    const started = Date.now()
    const res = await getWaiting(app, ann, notice, 'wait=3')
    t.equal(res.statusCode, 200)
    t.equal(res.json().status, 'queued', res.body)
    t.notOk(res.headers['preference-applied'], `${JSON.stringify(env)}: the preference was not applied`)
    t.ok(Date.now() - started < 1000, 'and the answer came at once')
    if (holding) t.equal((await holding).headers['preference-applied'], 'wait=3', 'the one that fit did wait')
  }
})

t.test("past JOB_WAITERS_PER_USER one user's requests are answered at once; another user still waits", async (t) => {
  const { app, ann, welcome, notice } = await stuckMail(t, { JOB_WAITERS_PER_USER: '1' })
  const holding = getWaiting(app, ann, welcome, 'wait=3')
  await waitFor(
    'the first request to wait',
    async () => metricValue((await app.inject({ url: '/metrics' })).body, 'deckhand_job_waiters') === 1,
  )
  const started = Date.now()
  const second = await getWaiting(app, ann, notice, 'wait=3')
  t.notOk(second.headers['preference-applied'], "ann's second request was not held")
  t.ok(Date.now() - started < 1000, 'and was answered at once')

  const bob = await signup(app, 'bob@example.com')
  const bobsWelcome = bob.jobs.find((j) => j.kind === 'mail.welcome')?.id as string
  await waitFor("bob's first attempt to fail", async () => waitingToRetry(await getJob(app, bob, bobsWelcome)))
  const bobs = await getWaiting(app, bob, bobsWelcome, 'wait=1')
  t.equal(bobs.headers['preference-applied'], 'wait=1', "bob's request still waits: ann cannot hold every slot")
  t.equal((await holding).headers['preference-applied'], 'wait=3', "and ann's first did wait")
})

t.test('shutdown answers waiting requests at once instead of waiting for them', async (t) => {
  const { app, ann, welcome } = await stuckMail(t)
  const waiting = getWaiting(app, ann, welcome, 'wait=60')
  await new Promise((resolve) => setTimeout(resolve, 200))
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.equal(metricValue(metrics, 'deckhand_job_waiters'), 1, '/metrics counts the waiting request')
  const started = Date.now()
  await app.close()
  const res = await waiting
  t.ok(Date.now() - started < 5000, `closed without waiting out the 60 s (${Date.now() - started} ms)`)
  t.equal(res.statusCode, 200)
  t.equal(res.json().status, 'queued', 'the client gets the state the job was in')
  t.equal(res.headers.connection, 'close')
})

t.test('Prefer header parsing follows RFC 7240', async (t) => {
  t.equal(preferredWaitSeconds('wait=5'), 5)
  t.equal(preferredWaitSeconds('respond-async, wait=10'), 10)
  t.equal(preferredWaitSeconds('WAIT = 3'), 3, 'names are case-insensitive, spaces allowed')
  t.equal(preferredWaitSeconds('wait="4"'), 4, 'a quoted value')
  t.equal(preferredWaitSeconds(['handling=lenient', 'wait=7']), 7, 'the header given twice')
  t.equal(preferredWaitSeconds('handling=strict'), undefined, 'other preferences are ignored')
  t.equal(preferredWaitSeconds('wait=-1'), undefined)
  t.equal(preferredWaitSeconds('wait=soon'), undefined)
  t.equal(preferredWaitSeconds('wait=99999999999'), undefined, 'absurd values are ignored, not overflowed')
  t.equal(preferredWaitSeconds(undefined), undefined)
})
