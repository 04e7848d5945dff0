import t from 'tap'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { fastEnv, getJob, jobDone, signup, startApp, tempDataDir, uploadRaw } from './helpers/app.ts'
import { waitFor } from './helpers/wait.ts'

t.test(
  'a worker that throws, crashes or runs out of memory fails only its own job; the service stays up',
  async (t) => {
    const config = loadConfig({ ...fastEnv, DATA_DIR: tempDataDir(t), MAX_ATTEMPTS: '2', POOL_MAX_HEAP_MB: '32' })
    const app = await buildApp(config, { workerFile: new URL('./helpers/faulty-worker.ts', import.meta.url).href })
    t.teardown(() => app.close())
    await app.ready()

    const users = await Promise.all(['oom', 'throws', 'crashes', 'fine'].map((n) => signup(app, `${n}@example.com`)))
    const [oom, throws, crashes, fine] = users as [
      (typeof users)[0],
      (typeof users)[0],
      (typeof users)[0],
      (typeof users)[0],
    ]
    const upload = async (user: typeof oom, name: string) => (await uploadRaw(app, user, name)).json().jobId as string
    const ids = {
      oom: await upload(oom, 'alpha.png'),
      throws: await upload(throws, 'image.tiff'),
      crashes: await upload(crashes, 'animated.gif'),
      fine: await upload(fine, 'photo-exif.jpg'),
    }

    const outOfMemory = await jobDone(app, oom, ids.oom, 60_000)
    t.equal(outOfMemory.status, 'failed')
    t.equal(outOfMemory.attempts, 2, 'retried up to MAX_ATTEMPTS')
    t.equal(outOfMemory.error.code, 'WORKER_FAILED')
    t.match(outOfMemory.error.message, /memory/i)

    const threw = await jobDone(app, throws, ids.throws, 60_000)
    t.equal(threw.status, 'failed')
    t.equal(threw.attempts, 2)
    t.same(threw.error, { code: 'WORKER_FAILED', message: 'the worker threw' })

    const crashedOnce = await jobDone(app, crashes, ids.crashes, 60_000)
    t.equal(crashedOnce.status, 'succeeded', 'a crash is retried, and the retry succeeds')
    t.equal(crashedOnce.attempts, 2)

    t.equal(
      (await jobDone(app, fine, ids.fine, 60_000)).status,
      'succeeded',
      "the healthy job is untouched by its neighbours' faults",
    )
    t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'the service is up')
    t.equal((await app.inject({ url: '/readyz' })).statusCode, 200)
  },
)

t.test('a job that runs past IMAGE_TIMEOUT_MS is aborted and fails with TIMEOUT; the pool carries on', async (t) => {
  const config = loadConfig({ ...fastEnv, DATA_DIR: tempDataDir(t), MAX_ATTEMPTS: '2', IMAGE_TIMEOUT_MS: '2000' })
  const app = await buildApp(config, { workerFile: new URL('./helpers/faulty-worker.ts', import.meta.url).href })
  t.teardown(() => app.close())
  await app.ready()
  const ann = await signup(app, 'ann@example.com')
  const stuck = await jobDone(app, ann, (await uploadRaw(app, ann, 'image.webp')).json().jobId, 30_000)
  t.equal(stuck.status, 'failed')
  t.equal(stuck.attempts, 2)
  t.same(stuck.error, { code: 'TIMEOUT', message: 'no result within 2000 ms' })
  const next = await jobDone(app, ann, (await uploadRaw(app, ann, 'photo-exif.jpg')).json().jobId, 30_000)
  t.equal(next.status, 'succeeded', 'the next job runs normally')
})

t.test('a job run again after it published (its success was never recorded) keeps the published avatar', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const jobId = (await uploadRaw(app, ann, 'photo-exif.jpg')).json().jobId as string
  const first = await jobDone(app, ann, jobId)
  t.equal(first.status, 'succeeded')
  const before = await app.inject({ url: `/users/${ann.id}/avatar?format=webp` })
  t.equal(before.statusCode, 200)

  // What a crash between publishing (durable) and recording success leaves: the job back in the queue, its
  // original already removed, its version the one being served.
  const { db } = app.services.database
  await db
    .updateTable('jobs')
    .set({ status: 'queued', finished_at: null, result: null })
    .where('id', '=', jobId)
    .execute()
  app.services.runner?.wake()
  const again = await waitFor('the job to run again', async () => {
    const job = await getJob(app, ann, jobId)
    return job.status !== 'queued' && job.status !== 'running' && job
  })
  t.equal(again.status, 'succeeded', 'run again, it succeeds instead of failing on the missing original')
  t.equal(again.attempts, 2)
  t.match(again.result, { current: true, version: jobId, placeholder: first.result.placeholder })
  const after = await app.inject({ url: `/users/${ann.id}/avatar?format=webp` })
  t.equal(after.statusCode, 200, 'and the files it published are still served')
  t.same(after.rawPayload, before.rawPayload)
})
