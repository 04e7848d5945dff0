import fs from 'node:fs'
import os from 'node:os'
import { Queue } from 'bullmq'
import type { Test } from 'tap'
import { metricValue } from '../../src/bench/stats.ts'
import { fastEnv, fixture, type SignedUp, signup, tempDataDir } from './app.ts'
import { type ServerProcess, startServerProcess } from './server-process.ts'
import { redisUrl, scaledEnv, servicesAvailable } from './services.ts'
import { startSmtp } from './smtp.ts'
import { waitFor } from './wait.ts'

/*
 * `deckhand api` and two `deckhand worker` processes, as on separate machines: each its own DATA_DIR, users in
 * PostgreSQL, jobs in BullMQ, uploads and avatars in one store all three reach. Run with a shared STORAGE_DIR
 * (test/scale-out/scale-out.test.ts) and with a bucket and no shared folder (scale-out-bucket.test.ts), a file
 * each: on a busy machine the two together outlast one test file's time limit.
 */
export function scaleOutScenarios(
  t: Test,
  store: string,
  storageEnv: (t: Test) => Promise<Record<string, string>>,
): void {
  t.test(`one api and two workers on PostgreSQL, BullMQ and ${store}`, async (t) => {
    if (!(await servicesAvailable(t))) return
    const env = await scaledEnv(t)
    const smtp = await startSmtp()
    t.teardown(() => smtp.close())
    const common = {
      ...fastEnv,
      ...env,
      LOG_LEVEL: 'info', // the tests read which worker ran what from the logs
      ...(await storageEnv(t)),
      SMTP_URL: smtp.url,
      STALLED_AFTER_MS: '2000',
      POOL_THREADS: '1',
    }
    const start = async (role: 'api' | 'worker') => {
      const proc = await startServerProcess({ ...common, DATA_DIR: tempDataDir(t) }, role)
      t.teardown(() => proc.child.kill('SIGKILL'))
      return proc
    }
    const api = await start('api')
    const workers = [await start('worker'), await start('worker')] as [ServerProcess, ServerProcess]

    const job = async (user: SignedUp, id: string) => {
      const res = await fetch(`${api.url}/jobs/${id}`, { headers: { authorization: `Bearer ${user.token}` } })
      return (await res.json()) as { id: string; status: string; attempts: number }
    }
    const upload = async (user: SignedUp, name: string) => {
      const res = await fetch(`${api.url}/users/${user.id}/avatar`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${user.token}`, 'content-type': 'image/jpeg' },
        body: fs.readFileSync(fixture(name)),
      })
      if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`)
      return ((await res.json()) as { jobId: string }).jobId
    }
    const allDone = (pairs: { user: SignedUp; id: string }[], timeoutMs: number) =>
      waitFor(
        `${pairs.length} jobs to finish`,
        async () => {
          const jobs = await Promise.all(pairs.map((p) => job(p.user, p.id)))
          return jobs.every((j) => j.status === 'succeeded' || j.status === 'failed') && jobs
        },
        timeoutMs,
        100,
      )
    const succeededBy = (w: ServerProcess) =>
      w.logs.filter((l) => l.msg === 'job succeeded').map((l) => l.jobId as string)

    t.test('a batch: every job done exactly once, to success, spread over both workers', async (t) => {
      const users: SignedUp[] = []
      for (let i = 0; i < 10; i++) users.push(await signup(api.url, `batch${i}@example.com`))
      const uploads = await Promise.all(
        users.slice(0, 6).map(async (user) => ({ user, id: await upload(user, 'photo-exif.jpg') })),
      )
      const pairs = [...users.flatMap((user) => user.jobs.map((j) => ({ user, id: j.id }))), ...uploads]
      const jobs = await allDone(pairs, 60_000)
      t.same(
        jobs.filter((j) => j.status !== 'succeeded'),
        [],
        'all succeeded',
      )
      t.same(
        jobs.filter((j) => j.attempts !== 1).map((j) => j.id),
        [],
        'each at its first attempt',
      )
      const runs = [...succeededBy(workers[0]), ...succeededBy(workers[1])]
      for (const { id } of pairs) t.equal(runs.filter((r) => r === id).length, 1, `${id} ran once`)
      t.ok(succeededBy(workers[0]).length > 0 && succeededBy(workers[1]).length > 0, 'both workers took jobs')
      const mailIds = users.flatMap((u) => u.jobs.map((j) => `<${j.id}@deckhand.local>`))
      for (const id of mailIds) t.equal(smtp.received.filter((m) => m.messageId === id).length, 1, `${id} mailed once`)
      // Written by a worker into the shared folder or the bucket, served by the api.
      const image = await fetch(`${api.url}/users/${uploads[0]?.user.id}/avatar?size=64`, {
        headers: { accept: 'image/avif' },
      })
      t.equal(image.status, 200)
      t.equal(image.headers.get('content-type'), 'image/avif')

      // Each worker serves its own health and numbers over HTTP, and nothing else.
      let avatarsDone = 0
      let mailsDone = 0
      for (const worker of workers) {
        t.equal((await fetch(`${worker.url}/healthz`)).status, 200, 'a worker answers /healthz')
        t.equal((await fetch(`${worker.url}/readyz`)).status, 200, 'and /readyz')
        const metrics = await (await fetch(`${worker.url}/metrics`)).text()
        const done = (kind: string) =>
          metricValue(metrics, `deckhand_job_duration_seconds_count{kind="${kind}",outcome="succeeded"}`) || 0
        avatarsDone += done('image.avatar')
        mailsDone += done('mail.welcome')
        t.equal(
          done('image.avatar'),
          succeededBy(worker).filter((id) => uploads.some((u) => u.id === id)).length,
          "a worker's /metrics counts the avatar jobs it ran",
        )
        const signup = await fetch(`${worker.url}/signup`, { method: 'POST' })
        t.equal(signup.status, 404, 'a worker serves no API')
        t.equal((await fetch(`${worker.url}/docs/json`)).status, 404, 'and no documentation')
      }
      t.equal(avatarsDone, uploads.length, 'between them, the workers counted every avatar job')
      t.equal(mailsDone, users.length, 'and every welcome mail')
    })

    t.test('a worker killed mid-job: the other takes its job over once the lock lapses; nothing lost', async (t) => {
      const users: SignedUp[] = []
      for (let i = 0; i < 4; i++) users.push(await signup(api.url, `kill${i}@example.com`))
      const queue = new Queue('image.avatar', { connection: { url: redisUrl }, prefix: env.QUEUE_PREFIX })
      t.teardown(() => queue.close())
      const [victim, survivor] = workers
      const victimName = `${os.hostname()}:${victim.child.pid}`
      const uploads: { user: SignedUp; id: string }[] = []
      for (let round = 0; round < 3; round++) {
        for (const user of users) uploads.push({ user, id: await upload(user, 'photo-12mp.jpg') })
      }
      const ends = ['job succeeded', 'job failed', 'job attempt failed; will retry']
      const running = async () => {
        const ended = new Set(victim.logs.filter((l) => ends.includes(l.msg as string)).map((l) => l.jobId))
        return (await queue.getJobs(['active'])).find((j) => j?.processedBy === victimName && !ended.has(j.id))
      }
      // Seen running, a job may still end before the kill lands: the victim is frozen first, and killed only once a
      // job is seen running while it cannot move. Redis shows a job active a little past the end the victim logs
      // (it records the end in Redis after that), so a job counts only while the victim has logged no end of it.
      const freezeMidJob = async () => {
        for (let tries = 0; tries < 20; tries++) {
          await waitFor('the victim to be running an avatar job', running, 30_000, 10)
          victim.child.kill('SIGSTOP')
          // What it wrote to Redis and to its log before it stopped may still be on its way: let it land.
          await new Promise((resolve) => setTimeout(resolve, 500))
          const job = await running()
          if (job) return job
          t.comment('the job seen running had ended by the time the victim stopped: again')
          victim.child.kill('SIGCONT')
        }
        throw new Error('the victim was never frozen mid-job')
      }
      const caught = await freezeMidJob()
      victim.child.kill('SIGKILL')
      await victim.exited
      const jobs = await allDone(uploads, 90_000)
      t.same(
        jobs.filter((j) => j.status !== 'succeeded').map((j) => j.id),
        [],
        'every accepted upload became an avatar',
      )
      const taken = jobs.find((j) => j.id === caught.id)
      t.equal(taken?.attempts, 2, 'the interrupted job ran again')
      t.ok(succeededBy(survivor).includes(caught.id as string), 'on the surviving worker')
      t.notOk(succeededBy(victim).includes(caught.id as string), 'the victim never finished it')
    })
  })
}
