import path from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { holdStatements } from '../../src/db/sqlite-handles.ts'
import { fastEnv, signup, tempDataDir } from '../helpers/app.ts'
import { startServerProcess } from '../helpers/server-process.ts'
import { startSmtp } from '../helpers/smtp.ts'
import { waitFor } from '../helpers/wait.ts'

function jobStatuses(dataDir: string) {
  const db = new Database(path.join(dataDir, 'deckhand.db'), { readonly: true })
  try {
    // Held, like every better-sqlite3 statement: see src/db/sqlite-handles.ts.
    // Succeeded jobs are kept in jobs_done (migration 0010).
    const text = "SELECT status, attempts FROM jobs UNION ALL SELECT 'succeeded', attempts FROM jobs_done"
    return holdStatements(db).prepare(text).all() as {
      status: string
      attempts: number
    }[]
  } finally {
    db.close()
  }
}

t.test(
  'killed with SIGKILL after accepting signups, before sending: the restarted service sends every mail',
  async (t) => {
    const dataDir = tempDataDir(t)
    // A relay that takes every message and never answers: jobs are mid-send when the process dies.
    const stalled = await startSmtp({ delayMs: 600_000 })
    t.teardown(() => stalled.close())
    const first = await startServerProcess({ ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: dataDir, SMTP_URL: stalled.url })
    t.teardown(() => first.child.kill('SIGKILL'))
    const emails = ['a@example.com', 'b@example.com', 'c@example.com']
    const accepted = []
    for (const email of emails) accepted.push(await signup(first.url, email))
    await waitFor('the first send to be under way', () => stalled.attempts() >= 1)
    t.equal(await first.stop('SIGKILL'), 'SIGKILL')
    t.equal(stalled.received.length, 0, 'nothing was delivered before the crash')
    t.ok(
      jobStatuses(dataDir).some((j) => j.status === 'running'),
      'the crash left jobs marked running',
    )

    const smtp = await startSmtp()
    t.teardown(() => smtp.close())
    const second = await startServerProcess({ ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: dataDir, SMTP_URL: smtp.url })
    t.teardown(() => second.stop('SIGKILL'))
    await waitFor('six mails after the restart', () => smtp.received.length >= 6, 15_000)
    for (const email of emails) {
      t.equal(smtp.received.filter((m) => m.to.includes(email)).length, 1, `${email} got its welcome mail`)
    }
    t.equal(smtp.received.filter((m) => m.to.includes('admin@deckhand.local')).length, 3, 'the admin got three notices')
    t.ok(
      second.logs.some((l) => l.msg === 'requeued jobs left running by an earlier process'),
      'the restart says it requeued the interrupted jobs',
    )
    const ids = new Set(smtp.received.map((m) => m.messageId))
    const expected = accepted.flatMap((a) => a.jobs.map((j) => `<${j.id}@deckhand.local>`))
    t.same([...ids].sort(), expected.sort(), 'each mail carries the Message-ID of its job')
  },
)

t.test('SIGTERM: in-flight work gets the grace period, the rest stays queued and runs after restart', async (t) => {
  const dataDir = tempDataDir(t)
  const stalled = await startSmtp({ delayMs: 600_000 })
  t.teardown(() => stalled.close())
  const first = await startServerProcess({
    ...fastEnv,
    LOG_LEVEL: 'info',
    DATA_DIR: dataDir,
    SMTP_URL: stalled.url,
    SHUTDOWN_GRACE_MS: '300',
  })
  t.teardown(() => first.child.kill('SIGKILL'))
  await signup(first.url, 'a@example.com')
  await signup(first.url, 'b@example.com')
  await waitFor('sends to be under way', () => stalled.attempts() >= 1)
  const started = Date.now()
  t.equal(await first.stop('SIGTERM', 10_000), 0, 'exit code 0')
  t.ok(Date.now() - started < 5000, `exited ${Date.now() - started} ms after SIGTERM`)
  const after = jobStatuses(dataDir)
  t.same(
    after.map((j) => j.status),
    ['queued', 'queued', 'queued', 'queued'],
    'interrupted and unstarted jobs are queued again',
  )
  t.ok(
    after.every((j) => j.attempts === 0),
    'an attempt cut short by shutdown is not counted',
  )

  const smtp = await startSmtp()
  t.teardown(() => smtp.close())
  const second = await startServerProcess({ ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: dataDir, SMTP_URL: smtp.url })
  t.teardown(() => second.stop('SIGKILL'))
  await waitFor('four mails after the restart', () => smtp.received.length >= 4, 15_000)
  t.equal(await second.stop('SIGTERM'), 0)
  t.equal(smtp.received.length, 4)
})
