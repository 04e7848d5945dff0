import t from 'tap'
import { getJob, type SignedUp, signup, startApp } from '../helpers/app.ts'
import { startSmtp } from '../helpers/smtp.ts'
import { waitFor } from '../helpers/wait.ts'

t.test('the SMTP server goes away and comes back: every queued mail is delivered, attempts visible', async (t) => {
  const first = await startSmtp()
  const port = first.port
  const app = await startApp(t, {
    SMTP_URL: first.url,
    MAX_ATTEMPTS: '30',
    RETRY_BASE_MS: '50',
    RETRY_MAX_MS: '250',
    MAIL_TIMEOUT_MS: '1000',
  })
  const before = await signup(app, 'before@example.com')
  await waitFor('the first mails', () => first.received.length === 2)
  await first.close()

  const during: SignedUp[] = []
  for (let i = 0; i < 5; i++) during.push(await signup(app, `during${i}@example.com`))
  const job = during[0]?.jobs[0] as { id: string }
  const waiting = await waitFor('a failed attempt to show', async () => {
    const view = await getJob(app, during[0] as SignedUp, job.id)
    return view.attempts >= 2 && view.status === 'queued' && view
  })
  t.equal(waiting.error.code, 'SMTP_ERROR', 'the last error is visible while the job waits')
  t.match(waiting.error.message, /ECONNREFUSED|connect/i)
  t.ok(Date.parse(waiting.nextAttemptAt) > Date.parse(waiting.createdAt), 'and when it will try again')

  await new Promise((resolve) => setTimeout(resolve, 500))
  const back = await startSmtp({ port })
  t.teardown(() => back.close())
  await waitFor('all ten mails of the outage', () => back.received.length >= 10, 20_000)
  // The server has a message once its DATA ends; the job succeeds only when the client has read the 250 after it.
  const viewsOf = () => Promise.all(during.flatMap((u) => u.jobs.map((j) => getJob(app, u, j.id))))
  const views = await waitFor(
    'every mail of the outage to be recorded as sent',
    async () => {
      const views = await viewsOf()
      return views.every((v) => v.status === 'succeeded') && views
    },
    10_000,
  ).catch(async () => viewsOf())
  t.same(
    views.map((v) => v.status),
    views.map(() => 'succeeded'),
    'every mail queued during the outage succeeded',
  )
  t.ok(
    views.every((v) => v.attempts > 1),
    `each took several attempts (${views.map((v) => v.attempts).join(', ')})`,
  )
  t.equal(back.received.length, 10, 'none lost, none doubled')
  t.equal(first.received.length, 2)
  t.ok(before)
})
