import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import { Queue } from 'bullmq'
import pg from 'pg'
import type { Test } from 'tap'
import { AvatarKind } from '../../src/avatars/job.ts'
import { holdStatements } from '../../src/db/sqlite-handles.ts'
import { adminNoticeMailJob, welcomeMailJob } from '../../src/mail/kinds.ts'
import { fastEnv, fixture, type SignedUp, signup, tempDataDir } from './app.ts'
import { type ServerProcess, startServerProcess } from './server-process.ts'
import { redisUrl, scaledEnv } from './services.ts'
import { waitFor } from './wait.ts'

/*
 * Retries with an Idempotency-Key against real server processes, where answers get lost: a client that hangs up
 * before it reads the 201, retries racing, and a SIGKILL between the commit and the answer. Each must end with
 * one user and one set of jobs. Run on the SQLite journal (test/idempotency/) and on BullMQ with PostgreSQL
 * (test/scale-out/), a file each: together they outlast one test file's time limit.
 */
const killBeforeAnswer = new URL('../helpers/kill-before-answer.ts', import.meta.url).href

export interface Backend {
  env: Record<string, string>
  /** The ids of the users with this address. */
  usersWithEmail(email: string): Promise<string[]>
  /** The ids of every job of `kind` this owner has, in whatever state. */
  jobsOf(kind: string, ownerId: string): Promise<string[]>
}

export function sqliteBackend(dataDir: string): Backend {
  const query = <T>(text: string, ...params: string[]) => {
    const db = new Sqlite(path.join(dataDir, 'deckhand.db'), { readonly: true })
    try {
      return holdStatements(db)
        .prepare(text)
        .all(...params) as T[]
    } finally {
      db.close()
    }
  }
  return {
    env: { DATA_DIR: dataDir },
    usersWithEmail: async (email) =>
      query<{ id: string }>('SELECT id FROM users WHERE email = ?', email).map((r) => r.id),
    jobsOf: async (kind, owner) =>
      query<{ id: string }>(
        // Succeeded jobs are kept in jobs_done (migration 0010).
        'SELECT id FROM jobs WHERE kind = ? AND owner_id = ? UNION ALL SELECT id FROM jobs_done WHERE kind = ? AND owner_id = ?',
        kind,
        owner,
        kind,
        owner,
      ).map((r) => r.id),
  }
}

export async function bullBackend(t: Test, dataDir: string): Promise<Backend> {
  const env = await scaledEnv(t)
  const client = new pg.Client({ connectionString: env.DATABASE_URL })
  await client.connect()
  t.teardown(() => client.end())
  const queues = new Map<string, Queue>()
  const queue = (kind: string) => {
    if (!queues.has(kind)) {
      const q = new Queue(kind, { connection: { url: redisUrl }, prefix: env.QUEUE_PREFIX })
      t.teardown(() => q.close())
      queues.set(kind, q)
    }
    return queues.get(kind) as Queue
  }
  return {
    env: { ...env, DATA_DIR: dataDir },
    usersWithEmail: async (email) =>
      (await client.query('SELECT id FROM users WHERE email = $1', [email])).rows.map((r) => r.id),
    async jobsOf(kind, owner) {
      // Committed jobs are in the outbox until handed over, then in BullMQ: a job moving between the two reads is
      // seen twice at most, never missed (the outbox is read first), and counted once.
      const outbox = await client.query('SELECT id FROM outbox WHERE kind = $1 AND owner_id = $2', [kind, owner])
      const jobs = await queue(kind).getJobs(['wait', 'active', 'delayed', 'prioritized', 'completed', 'failed'])
      const inRedis = jobs.filter((j) => j.data.ownerId === owner).map((j) => j.id as string)
      return [...new Set([...outbox.rows.map((r) => r.id as string), ...inRedis])]
    },
  }
}

interface Answer {
  id: string
  token: string
  jobs: { id: string }[]
  code?: string
  jobId?: string
}

interface Answered {
  status: number
  replayed: string | null
  body: Answer
}

/** Each scenario its own key: the data outlives a scenario, and a key is one request's. */
async function signupWithKey(base: string, email: string, key = `"${email}-key"`): Promise<Answered> {
  const res = await fetch(`${base}/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ email }),
  })
  return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: (await res.json()) as Answer }
}

async function uploadWithKey(base: string, user: SignedUp, key = `"${user.id}"`): Promise<Answered> {
  const res = await fetch(`${base}/users/${user.id}/avatar`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${user.token}`, 'content-type': 'image/jpeg', 'idempotency-key': key },
    body: fs.readFileSync(fixture('photo-exif.jpg')),
  })
  return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: (await res.json()) as Answer }
}

/** Whether the token works: its owner may read its own job. */
async function tokenWorks(base: string, token: string, jobId: string) {
  const res = await fetch(`${base}/jobs/${jobId}`, { headers: { authorization: `Bearer ${token}` } })
  return res.status === 200
}

/** A proxy that passes requests on and cuts the connection as the answer's first byte comes back. */
async function answerCutter(t: Test, target: string) {
  const { port } = new URL(target)
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), '127.0.0.1')
    client.on('error', () => {})
    upstream.on('error', () => {})
    client.pipe(upstream)
    upstream.once('data', () => {
      client.destroy()
      upstream.destroy()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
}

/** The three scenarios against `backend`, as subtests of `t`. */
export function idempotentRetryScenarios(t: Test, backend: Backend): void {
  const common = { ...fastEnv, ...backend.env, LOG_LEVEL: 'info', SMTP_URL: 'smtp://127.0.0.1:9', MAX_ATTEMPTS: '1' }
  const start = async (env: Record<string, string> = {}, preload: string[] = []) => {
    const proc = await startServerProcess({ ...common, ...env }, undefined, preload)
    t.teardown(() => proc.child.kill('SIGKILL'))
    return proc
  }
  /** Exactly one user with this address, its two mail jobs those of `answer`; the answer's token works. */
  const exactlyOne = async (t: Test, base: string, email: string, answer: Answer) => {
    t.same(await backend.usersWithEmail(email), [answer.id], 'exactly one user, the one answered')
    const jobs = [
      ...(await backend.jobsOf(welcomeMailJob.name, answer.id)),
      ...(await backend.jobsOf(adminNoticeMailJob.name, answer.id)),
    ]
    t.same(jobs.sort(), answer.jobs.map((j) => j.id).sort(), 'one set of mail jobs, those answered')
    t.ok(await tokenWorks(base, answer.token, answer.jobs[0]?.id as string), 'the token works')
  }

  // Stopped by SIGKILL (at the test's end): a graceful stop waits out the mail lane's grace, and proves nothing here.
  let running: Promise<ServerProcess[]> | undefined
  const servers = () => {
    // Scaled out, two processes race too: there the key's row in PostgreSQL decides, not a process's memory.
    running ??= Promise.all(backend.env.DATABASE_URL ? [start(), start({ DATA_DIR: tempDataDir(t) })] : [start()])
    return running
  }

  t.test('a 201 lost to a client that hangs up, then the retry', async (t) => {
    const [server] = (await servers()) as [ServerProcess]
    const cutter = await answerCutter(t, server.url)
    const email = 'lost@example.com'
    await t.rejects(signupWithKey(cutter, email), 'the answer never reaches the client')
    const retry = await signupWithKey(server.url, email)
    t.equal(retry.status, 201)
    t.equal(retry.replayed, 'true')
    await exactlyOne(t, server.url, email, retry.body)
  })

  t.test('retries racing with one key: one user; each gets the replay or 409 IN_FLIGHT', async (t) => {
    const racing = await servers()
    const email = 'race@example.com'
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => signupWithKey((racing[i % racing.length] as ServerProcess).url, email)),
    )
    const created = answers.filter((a) => a.status === 201)
    t.ok(created.length >= 1, `${created.length} of 8 answered 201`)
    t.same(
      answers.filter((a) => a.status !== 201).map((a) => a.body.code),
      answers.filter((a) => a.status !== 201).map(() => 'IDEMPOTENCY_KEY_IN_FLIGHT'),
      'the others: 409 IDEMPOTENCY_KEY_IN_FLIGHT',
    )
    t.equal(new Set(created.map((a) => JSON.stringify(a.body))).size, 1, 'every 201 is the same answer')
    t.equal(created.filter((a) => !a.replayed).length, 1, 'one of them made the user')
    await exactlyOne(t, (racing[0] as ServerProcess).url, email, created[0]?.body as Answer)
    for (const server of racing) {
      server.child.kill('SIGKILL')
      await server.exited
    }
  })

  t.test('SIGKILL between the commit and the answer, then the retry after restart', async (t) => {
    const email = 'killed@example.com'
    let server = await start({ KILL_BEFORE_ANSWER: '1' }, [killBeforeAnswer])
    const user = await signup(server.url, 'uploader@example.com') // no key: answered
    await t.rejects(uploadWithKey(server.url, user), 'the upload is never answered')
    t.equal(await server.exited, 'SIGKILL')
    const [committedJob] = await waitFor('the upload job committed', () => backend.jobsOf(AvatarKind, user.id))
    t.ok(committedJob, 'the upload had committed its job before the kill')

    server = await start({ KILL_BEFORE_ANSWER: '1' }, [killBeforeAnswer])
    await t.rejects(signupWithKey(server.url, email), 'the signup is never answered')
    t.equal(await server.exited, 'SIGKILL')
    t.equal((await backend.usersWithEmail(email)).length, 1, 'the signup had committed its user before the kill')

    server = await start()
    const retry = await signupWithKey(server.url, email)
    t.equal(retry.status, 201)
    t.equal(retry.replayed, 'true')
    await exactlyOne(t, server.url, email, retry.body)
    const upload = await uploadWithKey(server.url, user)
    t.equal(upload.status, 202)
    t.equal(upload.replayed, 'true')
    t.equal(upload.body.jobId, committedJob, 'the upload retried gets the job committed before the kill')
    t.same(await backend.jobsOf(AvatarKind, user.id), [committedJob], 'one avatar job')
  })
}
