import fs from 'node:fs'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { fastEnv, signup, tempDataDir, uploadRaw, waitForJob } from '../helpers/app.ts'
import { imagesGate } from '../helpers/gated-worker.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'

const gatedWorker = new URL('../helpers/gated-worker.ts', import.meta.url).href

/** Ann's backlog: long enough that waiting behind it, first come first served, is plain to see. */
const BACKLOG = 20

/*
 * Fair dispatch of the image lane, on each backend: ann has a backlog of uploads waiting (one image thread, held
 * by a gate), then bob uploads one. Bob's job runs after at most the jobs ann's uploads already had in the lane
 * (threads + 1: one on the thread, one waiting in the pool) and the next in her line, not after her backlog; all
 * of ann's jobs still run, in the order she uploaded them.
 */
async function newcomerOvertakesBacklog(t: Test, env: Record<string, string>) {
  const dataDir = tempDataDir(t)
  const config = loadConfig({
    ...fastEnv,
    DATA_DIR: dataDir,
    POOL_THREADS: '1',
    MAX_PENDING_JOBS: '100',
    MAX_PENDING_JOBS_PER_USER: '50',
    ...env,
  })
  const app = await buildApp(config, { workerFile: gatedWorker })
  t.teardown(() => app.close())
  await app.ready()
  const ann = await signup(app, 'ann@example.com')
  const bob = await signup(app, 'bob@example.com')
  const annJobs: string[] = []
  for (let i = 0; i < BACKLOG; i++) {
    const res = await uploadRaw(app, ann, 'alpha.png', 'image/png')
    t.equal(res.statusCode, 202)
    annJobs.push(res.json().jobId)
  }
  const bobs = await uploadRaw(app, bob, 'alpha.png', 'image/png')
  t.equal(bobs.statusCode, 202)

  fs.writeFileSync(imagesGate(dataDir), '')
  const annDone = []
  for (const id of annJobs) annDone.push(await waitForJob(app, ann, id, 60_000))
  const bobDone = await waitForJob(app, bob, bobs.json().jobId, 60_000)
  t.ok(
    [...annDone, bobDone].every((job) => job.status === 'succeeded'),
    "all of ann's jobs and bob's succeed",
  )

  const started = (job: { startedAt: string }) => Date.parse(job.startedAt)
  const annBefore = annDone.filter((job) => started(job) < started(bobDone)).length
  t.ok(
    annBefore <= 3,
    `bob's job started after ${annBefore} of ann's ${BACKLOG} (at most the two her lane held and one more)`,
  )
  const annStarts = annDone.map(started)
  t.ok(
    annStarts.every((at, i) => i === 0 || at >= (annStarts[i - 1] as number)),
    "ann's jobs started in the order she uploaded them",
  )
}

t.test("a newcomer's image job overtakes another user's backlog (journal)", (t) => newcomerOvertakesBacklog(t, {}))

t.test("a newcomer's image job overtakes another user's backlog (BullMQ)", async (t) => {
  if (!(await servicesAvailable(t))) return
  await newcomerOvertakesBacklog(t, await scaledEnv(t))
})
