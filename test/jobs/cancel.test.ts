import fs from 'node:fs'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { fastEnv, getJob, type SignedUp, signup, tempDataDir, uploadRaw, waitForJob } from '../helpers/app.ts'
import { imagesGate } from '../helpers/gated-worker.ts'
import { fillImageLane } from '../helpers/image-lane.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { waitFor } from '../helpers/wait.ts'

/*
 * DELETE /jobs/:id and the supersede of an older avatar upload, on both backends. The image worker holds every
 * task until the test opens its gate (gated-worker.ts), so a job stays running, and those behind it queued, for as
 * long as a test needs. Scaled out, the api and the worker are separate apps (QUEUE=bullmq, PostgreSQL): a cancel
 * reaches the worker only through Redis.
 */
const gatedWorker = new URL('../helpers/gated-worker.ts', import.meta.url).href
const ADMIN_TOKEN = 'an-admin-token-for-tests-0123456789'

interface Setup {
  api: FastifyInstance
  openGate(): void
}

const modes: Record<string, (t: Test) => Promise<Record<string, string> | undefined>> = {
  'journal (SQLite)': async () => ({}),
  'journal (PostgreSQL)': async (t) =>
    (await servicesAvailable(t)) ? { DATABASE_URL: (await scaledEnv(t)).DATABASE_URL as string } : undefined,
  'BullMQ and PostgreSQL, api and worker apart': async (t) =>
    (await servicesAvailable(t)) ? { ...(await scaledEnv(t)), STORAGE_DIR: tempDataDir(t) } : undefined,
}

async function setUp(t: Test, env: Record<string, string>, extra: Record<string, string> = {}): Promise<Setup> {
  const common = { ...fastEnv, ...env, POOL_THREADS: '1', ADMIN_TOKEN, SUPERSEDE_AVATAR_UPLOADS: 'true', ...extra }
  const start = async (role: 'all' | 'api' | 'worker', dataDir: string) => {
    const app = await buildApp(loadConfig({ ...common, DATA_DIR: dataDir }), { role, workerFile: gatedWorker })
    t.teardown(() => app.close())
    await app.ready()
    return app
  }
  const workerDir = tempDataDir(t)
  const openGate = () => fs.writeFileSync(imagesGate(workerDir), '')
  if (env.QUEUE !== 'bullmq') return { api: await start('all', workerDir), openGate }
  await start('worker', workerDir)
  return { api: await start('api', tempDataDir(t)), openGate }
}

const cancel = (api: FastifyInstance, id: string, token: string) =>
  api.inject({ method: 'DELETE', url: `/jobs/${id}`, headers: { authorization: `Bearer ${token}` } })

async function upload(t: Test, api: FastifyInstance, user: SignedUp): Promise<string> {
  const res = await uploadRaw(api, user, 'alpha.png', 'image/png')
  t.equal(res.statusCode, 202, 'upload accepted')
  return res.json().jobId
}

const until = (api: FastifyInstance, user: SignedUp, id: string, status: string) =>
  waitFor(`job ${status}`, async () => (await getJob(api, user, id)).status === status, 20_000)

/** Objects left under the store's avatars and originals folders. */
function storedObjects(api: FastifyInstance): string[] {
  const root = api.config.storageDir
  const list = (dir: string): string[] =>
    fs.existsSync(dir)
      ? fs
          .readdirSync(dir, { withFileTypes: true })
          .flatMap((e) => (e.isDirectory() ? list(path.join(dir, e.name)) : [path.join(dir, e.name)]))
      : []
  return [...list(path.join(root, 'avatars')), ...list(path.join(root, 'uploads', 'originals'))]
}

for (const [mode, environment] of Object.entries(modes)) {
  t.test(mode, async (t) => {
    const env = await environment(t)
    if (!env) return

    t.test('queued, running, finished, twice: each answered as it should be', async (t) => {
      const { api, openGate } = await setUp(t, env)
      const ann = await signup(api, 'ann@example.com')
      const bob = await signup(api, 'bob@example.com')
      const cat = await signup(api, 'cat@example.com')
      // Ann's runs; the image lane holds one job more than the pool has threads (images/lane.ts): the others wait in
      // the pool, each its own user's (a second upload would supersede the first), so bob's stays queued.
      const [{ id: running }, ...waiting] = await fillImageLane(1, async (i) => {
        const user = i === 0 ? ann : await signup(api, `dan${i}@example.com`)
        const id = await upload(t, api, user)
        await until(api, user, id, 'running')
        return { user, id }
      })
      const queued = await upload(t, api, bob)

      t.equal((await cancel(api, queued, ann.token)).statusCode, 404, "another user's job is not found")
      t.equal((await cancel(api, queued, 'not-a-token')).statusCode, 401)

      const first = await cancel(api, queued, bob.token)
      t.equal(first.statusCode, 200, 'a queued job is cancelled at once')
      t.equal(first.json().status, 'cancelled')
      t.equal(first.json().error.code, 'CANCELLED')
      t.same((await getJob(api, bob, queued)).status, 'cancelled')
      const again = await cancel(api, queued, bob.token)
      t.equal(again.statusCode, 200, 'cancelling twice is harmless')
      t.same(again.json(), first.json(), 'and answers the same job')

      // The running one is held by its thread: the admin calls it off, and the thread is stopped.
      const started = Date.now()
      const stopped = await cancel(api, running, ADMIN_TOKEN)
      const ms = Date.now() - started
      t.equal(stopped.statusCode, 200, `a running job is stopped (${ms} ms)`)
      t.equal(stopped.json().status, 'cancelled')
      t.ok(ms < 1000, `within a second: ${ms} ms`)

      // The pool still serves the next job.
      openGate()
      const next = await upload(t, api, cat)
      const done = await waitForJob(api, cat, next, 30_000)
      t.equal(done.status, 'succeeded', 'the pool runs the next job after a thread was stopped')
      const finished = await cancel(api, next, cat.token)
      t.equal(finished.statusCode, 409, 'a finished job is not cancelled')
      t.equal(finished.json().code, 'JOB_FINISHED')
      t.equal((await getJob(api, bob, queued)).attempts, 0, 'the job cancelled while queued never ran')
      for (const { user, id } of waiting)
        t.equal((await waitForJob(api, user, id, 30_000)).status, 'succeeded', 'a job that waited in the pool ran')
      // Nothing is left of the cancelled jobs: only cat's avatar and those that waited (their variants) are stored.
      const kept = (f: string) => [cat, ...waiting.map((w) => w.user)].some((u) => f.includes(u.id))
      await waitFor('only the finished avatars', () => storedObjects(api).every(kept), 5000).catch(() => {})
      t.ok(storedObjects(api).every(kept), 'no original or variant of a cancelled job is left')
    })

    t.test('the event stream of a cancelled job ends with a cancelled event', async (t) => {
      const { api } = await setUp(t, env)
      const ann = await signup(api, 'ann.events@example.com')
      const id = await upload(t, api, ann)
      await until(api, ann, id, 'running')
      const stream = api.inject({ url: `/jobs/${id}/events`, headers: { authorization: `Bearer ${ann.token}` } })
      await new Promise((resolve) => setTimeout(resolve, 200))
      t.equal((await cancel(api, id, ann.token)).statusCode, 200)
      const body = (await stream).body
      const events = [...body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1])
      t.equal(events.at(-1), 'cancelled', `events: ${events}`)
    })

    t.test('a burst of 10 uploads by one user: only the last is made', async (t) => {
      const { api, openGate } = await setUp(t, env)
      const ann = await signup(api, 'ann.burst@example.com')
      const ids = await Promise.all(Array.from({ length: 10 }, () => upload(t, api, ann)))
      openGate()
      const ends = await Promise.all(ids.map((id) => waitForJob(api, ann, id, 60_000)))
      const made = ends.filter((job) => job.status === 'succeeded')
      t.equal(made.length, 1, `one job made: ${ends.map((j) => j.status)}`)
      const superseded = ends.filter((job) => job.status === 'cancelled' && job.error?.code === 'SUPERSEDED')
      t.equal(superseded.length, 9, 'the nine others were cancelled as SUPERSEDED')
      const current = await api.avatars.current(ann.id)
      t.equal(current?.version, made[0]?.id, 'the one made is the last upload, now the avatar')
    })
  })
}
