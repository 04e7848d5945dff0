import pg from 'pg'
import t from 'tap'
import { fastEnv, type SignedUp, signup, tempDataDir } from '../helpers/app.ts'
import { startServerProcess } from '../helpers/server-process.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { startSmtp } from '../helpers/smtp.ts'
import { waitFor } from '../helpers/wait.ts'

t.test(
  'Redis away at signup, then the api killed: the outbox in PostgreSQL keeps the jobs, and they are sent once',
  async (t) => {
    if (!(await servicesAvailable(t))) return
    const env = await scaledEnv(t)
    const smtp = await startSmtp()
    t.teardown(() => smtp.close())
    const common = { ...fastEnv, ...env, LOG_LEVEL: 'info', SMTP_URL: smtp.url }

    // Nothing listens on this port: every hand-over to BullMQ fails.
    const cut = await startServerProcess(
      { ...common, REDIS_URL: 'redis://127.0.0.1:9', DATA_DIR: tempDataDir(t) },
      'api',
    )
    t.teardown(() => cut.child.kill('SIGKILL'))
    const users: SignedUp[] = []
    for (let i = 0; i < 5; i++) users.push(await signup(cut.url, `outbox${i}@example.com`))
    const dup = await fetch(`${cut.url}/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'OUTBOX0@example.com' }),
    })
    t.equal(dup.status, 409, 'a refused signup')
    const first = users[0] as SignedUp
    const view = await fetch(`${cut.url}/jobs/${first.jobs[0]?.id}`, {
      headers: { authorization: `Bearer ${first.token}` },
    })
    t.equal(((await view.json()) as { status: string }).status, 'queued', 'an accepted job reads as queued meanwhile')

    const db = new pg.Client({ connectionString: env.DATABASE_URL })
    await db.connect()
    t.teardown(() => db.end())
    const { rows } = await db.query('SELECT id FROM outbox ORDER BY id')
    t.same(
      rows.map((r) => r.id),
      users.flatMap((u) => u.jobs.map((j) => j.id)).sort(),
      'every accepted job, and only those, waits in the outbox',
    )
    cut.child.kill('SIGKILL')
    await cut.exited

    const api = await startServerProcess({ ...common, DATA_DIR: tempDataDir(t) }, 'api')
    t.teardown(() => api.child.kill('SIGKILL'))
    const worker = await startServerProcess({ ...common, DATA_DIR: tempDataDir(t) }, 'worker')
    t.teardown(() => worker.child.kill('SIGKILL'))
    const ids = users.flatMap((u) => u.jobs.map((j) => `<${j.id}@deckhand.local>`))
    await waitFor(
      'every mail to arrive',
      () => ids.every((id) => smtp.received.some((m) => m.messageId === id)),
      30_000,
    )
    await new Promise((resolve) => setTimeout(resolve, 500)) // room for a duplicate to show up, were there one
    for (const id of ids) t.equal(smtp.received.filter((m) => m.messageId === id).length, 1, `${id} sent once`)
    t.equal((await db.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n, 0, 'the outbox is empty')
    await api.stop()
    await worker.stop()
  },
)
