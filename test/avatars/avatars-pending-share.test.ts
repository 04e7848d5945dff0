import fs from 'node:fs'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.ts'
import { AvatarKind } from '../../src/avatars/job.ts'
import { loadConfig } from '../../src/config.ts'
import { ownerSetKey } from '../../src/jobs/bullmq/owner-pending.ts'
import { fastEnv, type SignedUp, signup, tempDataDir, uploadRaw, waitForJob } from '../helpers/app.ts'
import { imagesGate } from '../helpers/gated-worker.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'

const gatedWorker = new URL('../helpers/gated-worker.ts', import.meta.url).href

/** The app with one image thread that holds every job until the test opens the gate. */
async function gatedApp(t: Test, env: Record<string, string>) {
  const dataDir = tempDataDir(t)
  const config = loadConfig({
    ...fastEnv,
    DATA_DIR: dataDir,
    POOL_THREADS: '1',
    // Far from the global limit: what refuses user A below is its own share alone.
    MAX_PENDING_JOBS: '20',
    MAX_PENDING_JOBS_PER_USER: '3',
    ...env,
  })
  const app = await buildApp(config, { workerFile: gatedWorker })
  t.teardown(() => app.close())
  await app.ready()
  return { app, openGate: () => fs.writeFileSync(imagesGate(dataDir), '') }
}

const upload = (app: FastifyInstance, user: SignedUp) => uploadRaw(app, user, 'alpha.png', 'image/png')

async function oneUserFillsItsShareAlone(t: Test, env: Record<string, string>) {
  const { app, openGate } = await gatedApp(t, env)
  const ann = await signup(app, 'ann@example.com')
  const bob = await signup(app, 'bob@example.com')
  const annJobs: string[] = []
  for (let i = 0; i < 3; i++) {
    const res = await upload(app, ann)
    t.equal(res.statusCode, 202, `ann's upload ${i + 1} of her share`)
    annJobs.push(res.json().jobId)
  }
  for (let i = 0; i < 3; i++) {
    const over = await upload(app, ann)
    t.equal(over.statusCode, 429, 'past her share, ann waits: 17 places are left for everyone else')
    t.equal(over.json().code, 'TOO_MANY_PENDING_JOBS')
    t.match(over.json().message, /3 of them are waiting or arriving \(this user's share is 3\)/)
    t.equal(over.headers['retry-after'], '1')
  }
  const bobs = await upload(app, bob)
  t.equal(bobs.statusCode, 202, "bob's upload is taken while ann's share is full")

  openGate()
  for (const id of annJobs) t.equal((await waitForJob(app, ann, id, 60_000)).status, 'succeeded')
  if (env.QUEUE === 'bullmq') {
    // No count of hers ran since: the runner itself took her finished jobs out of her set.
    const redis = new Redis(env.REDIS_URL as string)
    const left = await redis.smembers(ownerSetKey(env.QUEUE_PREFIX as string, AvatarKind, ann.id))
    redis.disconnect()
    t.same(left, [], 'the runner took her finished jobs out of her set of pending jobs')
  }
  t.equal((await upload(app, ann)).statusCode, 202, 'her jobs done, ann may upload again')
  t.equal((await waitForJob(app, bob, bobs.json().jobId, 60_000)).status, 'succeeded')
}

t.test("one user filling MAX_PENDING_JOBS_PER_USER gets 429 alone; others' uploads go on (journal)", (t) =>
  oneUserFillsItsShareAlone(t, {}),
)

t.test("one user filling MAX_PENDING_JOBS_PER_USER gets 429 alone; others' uploads go on (BullMQ)", async (t) => {
  if (!(await servicesAvailable(t))) return
  await oneUserFillsItsShareAlone(t, await scaledEnv(t))
})

t.test('MAX_PENDING_JOBS_PER_USER=0: no share, only the global limit (503 SERVICE_BUSY)', async (t) => {
  const { app } = await gatedApp(t, { MAX_PENDING_JOBS: '2', MAX_PENDING_JOBS_PER_USER: '0' })
  const ann = await signup(app, 'ann@example.com')
  t.equal((await upload(app, ann)).statusCode, 202)
  t.equal((await upload(app, ann)).statusCode, 202)
  const busy = await upload(app, ann)
  t.equal(busy.statusCode, 503)
  t.equal(busy.json().code, 'SERVICE_BUSY')
})
