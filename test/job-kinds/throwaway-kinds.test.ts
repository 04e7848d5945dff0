import fs from 'node:fs'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import sharp from 'sharp'
import t from 'tap'
import { metricValue } from '../../src/bench/stats.ts'
import { transact } from '../../src/db/database.ts'
import { JOB_KINDS } from '../../src/job-kinds.ts'
import type { Job } from '../../src/jobs/types.ts'
import { fixture, getJob, type SignedUp, signup, startApp, tempDataDir, waitForJob } from '../helpers/app.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { waitFor } from '../helpers/wait.ts'
import { startReceiver } from '../helpers/webhook-receiver.ts'
import { bannerJob } from './kinds/banner.ts'
import { echoGate, echoJob, echoSweeps, Gate } from './kinds/echo.ts'

/*
 * A new job kind costs its own definition and one entry in a list, and no line of src/: test/job-kinds/kinds/
 * declares one with a lane of its own on the event loop, and one that renders through the image pool with a task of a
 * worker module under test/; the app is built with JOB_KINDS plus them. It then runs on both backends
 * with what every kind gets from the list: its queue, its lane, its metric labels, its events told to the owner's
 * webhook, its per-owner count, cancellation, retention and the sweep of its files.
 */

const open = { WEBHOOK_ALLOW_INSECURE: 'true', WEBHOOK_ALLOW_PRIVATE: 'true' }

async function enqueueEcho(app: FastifyInstance, user: SignedUp, ...texts: string[]): Promise<Job[]> {
  const { database, queue } = app
  return transact(database, (tx) =>
    queue.enqueue(
      tx,
      texts.map((text) => echoJob.job(user.id, { text })),
    ),
  )
}

const backends = [
  { name: 'journal', env: async () => ({}) },
  { name: 'bullmq + postgres', env: scaledEnv, needsServices: true },
]

for (const backend of backends) {
  t.test(
    `${backend.name}: a kind declared in a test folder runs with its queue, lane, metrics and events`,
    async (t) => {
      if (backend.needsServices && !(await servicesAvailable(t))) return
      echoGate.current = new Gate()
      const receiver = await startReceiver(t)
      const app = await startApp(
        t,
        { ...open, ...(await backend.env(t)) },
        { kinds: [...JOB_KINDS, echoJob, bannerJob] },
      )
      const ann = await signup(app, 'ann@example.com')
      const put = await app.inject({
        method: 'PUT',
        url: `/users/${ann.id}/webhook`,
        headers: { authorization: `Bearer ${ann.token}` },
        payload: { url: `${receiver.url}/hooks` },
      })
      t.equal(put.statusCode, 200, 'a webhook to hear its events')
      receiver.secret = put.json().secret

      t.throws(
        () => echoJob.job(ann.id, { text: 5 } as never),
        /test\.echo job's payload is unfit/,
        'a payload unfit for its schema is refused where the job is made',
      )
      const [done, failed, called] = (await enqueueEcho(app, ann, 'hi', 'fail', 'never')) as [Job, Job, Job]

      // The lane has two slots: two jobs wait at the gate, the third is queued behind them.
      await waitFor('two running at the gate', async () => {
        const stages = await Promise.all([done, failed].map(async (j) => (await getJob(app, ann, j.id)).stage))
        return stages.every((s) => s === 'waiting at the gate')
      })
      t.equal(await app.queue.pendingCountOf(echoJob.name, ann.id), 3, 'its pending jobs counted per owner')
      const cancel = await app.inject({
        method: 'DELETE',
        url: `/jobs/${called.id}`,
        headers: { authorization: `Bearer ${ann.token}` },
      })
      t.equal(cancel.json().status, 'cancelled', 'a queued one is called off')
      echoGate.current.open()

      const ok = await waitForJob(app, ann, done.id)
      t.equal(ok.status, 'succeeded')
      t.same(ok.result, { echo: 'HI', metrics: true }, 'its handler made from the parts it named')
      const bad = await waitForJob(app, ann, failed.id)
      t.equal(bad.status, 'failed')
      t.equal(bad.error.code, 'ECHO_REFUSED', 'a failure of its own, not retried')

      const deliveries = await receiver.waitFor(2)
      const told = deliveries.map((d) =>
        d.verified.ok ? `${d.verified.payload.type} ${d.verified.payload.data.id}` : d.verified.error,
      )
      t.same(
        told.sort(),
        [`echo.done ${done.id}`, `echo.failed ${failed.id}`].sort(),
        'its events, signed, to the owner',
      )

      const metrics = (await app.inject({ url: '/metrics' })).body
      t.equal(
        metricValue(metrics, `deckhand_job_duration_seconds_count{kind="test.echo",outcome="succeeded"}`),
        1,
        'its attempts under its own label',
      )
      t.match(metrics, /deckhand_job_queue_latency_seconds\{kind="test\.echo"\}/, 'its queue latency from the list')

      const out = path.join(tempDataDir(t), 'banner.webp')
      const [banner] = await transact(app.database, (tx) =>
        app.queue.enqueue(tx, [bannerJob.job(ann.id, { input: fixture('photo-exif.jpg'), output: out })]),
      )
      const rendered = await waitForJob(app, ann, (banner as Job).id)
      t.equal(rendered.status, 'succeeded', 'a kind of the image lane ran its own task in the pool')
      t.match(await sharp(fs.readFileSync(out)).metadata(), { format: 'webp', width: 320, height: 80 })

      const swept = await app.queue.deleteFinished('succeeded', Date.now() + 1000, 1000)
      t.ok(swept >= 1, 'retention sweeps it like any other')
      const runs = echoSweeps.runs
      await app.sweeper.sweep()
      t.equal(echoSweeps.runs, runs + 1, 'its own sweep of its files runs with the others')
      const gone = await app.inject({ url: `/jobs/${done.id}`, headers: { authorization: `Bearer ${ann.token}` } })
      t.equal(gone.statusCode, 404, 'and it is gone')
    },
  )
}
