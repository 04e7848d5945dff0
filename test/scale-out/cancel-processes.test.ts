import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import sharp from 'sharp'
import t from 'tap'
import { fastEnv, fixture, type SignedUp, signup, tempDataDir } from '../helpers/app.ts'
import { fillImageLane } from '../helpers/image-lane.ts'
import { startServerProcess } from '../helpers/server-process.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { waitFor } from '../helpers/wait.ts'

/*
 * DELETE /jobs/:id on BullMQ when the job runs in another process: `deckhand api` and `deckhand worker` as real
 * processes (PostgreSQL, Redis, one shared STORAGE_DIR), so the cancel reaches the worker only through Redis.
 * Nothing in the worker is held by a test hook: the job runs long because its image is big, a 6000×6000 JPEG of
 * noise (36 MP, under MAX_INPUT_PIXELS; 45 MB, under the MAX_UPLOAD_BYTES set here). Progressive, it is decoded
 * whole before it can be shrunk, and without chroma subsampling it has twice the data: about two seconds of one
 * thread here, where a baseline JPEG of the same pixels takes half a second.
 * test/jobs/cancel.test.ts covers the rules of cancelling on every backend, in one process.
 */
const STOP_WITHIN_MS = 1000

interface JobBody {
  id: string
  status: string
  stage?: string
  startedAt?: string
  finishedAt?: string
  error?: { code: string }
}

async function noiseJpeg(file: string): Promise<void> {
  const side = 6000
  const raw = crypto.randomBytes(side * side * 3)
  await sharp(raw, { raw: { width: side, height: side, channels: 3 } })
    .jpeg({ quality: 80, progressive: true, chromaSubsampling: '4:4:4' })
    .toFile(file)
}

t.test('BullMQ: a cancel reaches a job that runs in another process', async (t) => {
  if (!(await servicesAvailable(t))) return
  const big = path.join(tempDataDir(t), 'noise-6000.jpg')
  await noiseJpeg(big)
  const env = {
    ...fastEnv,
    ...(await scaledEnv(t)),
    STORAGE_DIR: tempDataDir(t),
    POOL_THREADS: '1',
    MAX_UPLOAD_BYTES: String(64 * 1024 * 1024),
    LOG_LEVEL: 'info',
  }
  const start = async (role: 'api' | 'worker') => {
    const proc = await startServerProcess({ ...env, DATA_DIR: tempDataDir(t) }, role)
    t.teardown(() => proc.child.kill('SIGKILL'))
    return proc
  }
  const [api] = await Promise.all([start('api'), start('worker')])

  const auth = (user: SignedUp) => ({ authorization: `Bearer ${user.token}` })
  const upload = async (user: SignedUp, file: string, type: string) => {
    const res = await fetch(`${api.url}/users/${user.id}/avatar`, {
      method: 'PUT',
      headers: { ...auth(user), 'content-type': type },
      body: fs.readFileSync(file),
    })
    if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`)
    return ((await res.json()) as { jobId: string }).jobId
  }
  const getJob = async (user: SignedUp, id: string, waitSeconds = 0) => {
    const prefer: Record<string, string> = waitSeconds ? { prefer: `wait=${waitSeconds}` } : {}
    const res = await fetch(`${api.url}/jobs/${id}`, { headers: { ...auth(user), ...prefer } })
    return (await res.json()) as JobBody
  }
  const cancel = (user: SignedUp, id: string) =>
    fetch(`${api.url}/jobs/${id}`, { method: 'DELETE', headers: auth(user) })
  // A worker process starts slowly on a busy machine; its first job waits for it.
  const until = (user: SignedUp, id: string, status: string) =>
    waitFor(`job ${id} ${status}`, async () => (await getJob(user, id)).status === status, 60_000, 10)
  const avatarOf = async (user: SignedUp) =>
    ((await (await fetch(`${api.url}/users/${user.id}`, { headers: auth(user) })).json()) as { avatar: unknown }).avatar
  // Through the API's own Prefer: wait, each request held at most JOB_WAIT_MAX_MS.
  const settled = async (user: SignedUp, id: string) => {
    const deadline = Date.now() + 60_000
    let job = await getJob(user, id, 20)
    while ((job.status === 'queued' || job.status === 'running') && Date.now() < deadline)
      job = await getJob(user, id, 20)
    return job
  }
  const ms = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN)

  // How long the big image's job takes when nobody stops it: the cancel below must fall well inside that.
  let fullRunMs = 0
  t.test('uncancelled, the big image takes well over a second', async (t) => {
    const ann = await signup(api.url, 'ann@example.com')
    const id = await upload(ann, big, 'image/jpeg')
    const job = await settled(ann, id)
    t.equal(job.status, 'succeeded', 'it is an image deckhand takes')
    fullRunMs = ms(job.finishedAt) - ms(job.startedAt)
    t.comment(`the big image ran ${fullRunMs} ms`)
    t.ok(fullRunMs > 1000, `it runs long enough to be cancelled while running (${fullRunMs} ms)`)
  })

  t.test('running in the worker: stopped within a second, nothing published, the worker serves on', async (t) => {
    const bob = await signup(api.url, 'bob@example.com')
    const id = await upload(bob, big, 'image/jpeg')
    await waitFor('the image in the pool', async () => (await getJob(bob, id)).stage === 'resizing', 60_000, 10)
    // Well into the decode, which a full run spends more than a second in.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const asked = Date.now()
    const res = await cancel(bob, id)
    const answered = Date.now()
    let job = (await res.json()) as JobBody
    // 409 JOB_FINISHED: the worker never heard, and the job ran to its end while the DELETE waited for it to stop.
    if (res.status !== 200 && res.status !== 202) return t.fail(`DELETE answered ${res.status} ${JSON.stringify(job)}`)
    let seen = answered
    if (job.status !== 'cancelled') {
      // Past the 1 s asserted below, but how long it took still says something when it fails.
      await waitFor('the job cancelled', async () => (await getJob(bob, id)).status === 'cancelled', 10_000, 10)
      seen = Date.now()
      job = await getJob(bob, id)
    }
    t.equal(job.status, 'cancelled')
    t.equal(job.error?.code, 'CANCELLED')
    t.ok(job.startedAt, 'it had started')
    const stoppedAfter = ms(job.finishedAt) - asked
    t.comment(
      `DELETE answered ${res.status} in ${answered - asked} ms; cancelled seen ${seen - asked} ms after it; ` +
        `finishedAt − DELETE = ${stoppedAfter} ms; it had run ${ms(job.finishedAt) - ms(job.startedAt)} ms ` +
        `of the ${fullRunMs} ms a full run takes`,
    )
    t.ok(stoppedAfter < STOP_WITHIN_MS, `the worker stopped it ${stoppedAfter} ms after the DELETE`)
    t.ok(seen - asked < STOP_WITHIN_MS, `the api says cancelled ${seen - asked} ms after the DELETE`)
    t.equal(await avatarOf(bob), null, 'no variant was promoted')

    // The pool's thread was terminated to stop the job: a new one takes the next.
    const next = await upload(bob, fixture('alpha.png'), 'image/png')
    const after = await settled(bob, next)
    t.equal(after.status, 'succeeded', 'a later upload succeeds')
    t.not(await avatarOf(bob), null, 'and is published')
  })

  t.test('queued in BullMQ behind a running job: cancelled at once, and never run', async (t) => {
    const cat = await signup(api.url, 'cat@example.com')
    // The lane takes one job more than the pool has threads (images/lane.ts): the second waits in the pool.
    const [running, ...inPool] = await fillImageLane(1, () => upload(cat, big, 'image/jpeg'))
    const waiting = await upload(cat, big, 'image/jpeg')
    for (const id of [running, ...inPool]) await until(cat, id, 'running')
    t.equal((await getJob(cat, waiting)).status, 'queued', 'the next waits: the lane is full')
    const res = await cancel(cat, waiting)
    t.equal(res.status, 200)
    const job = (await res.json()) as JobBody
    t.equal(job.status, 'cancelled')
    t.equal(job.error?.code, 'CANCELLED')
    t.equal(job.startedAt, undefined, 'it never started')

    t.equal((await settled(cat, running)).status, 'succeeded', 'the running one goes on to its end')
    for (const id of inPool)
      t.equal((await settled(cat, id)).status, 'succeeded', 'and so does one that waited in the pool')
    // Jobs are taken in order: once a later one has run, the worker has taken the cancelled one too.
    const later = await settled(cat, await upload(cat, fixture('alpha.png'), 'image/png'))
    t.equal(later.status, 'succeeded')
    const after = await getJob(cat, waiting)
    t.equal(after.status, 'cancelled', 'still cancelled once the worker took it')
    t.equal(after.startedAt, undefined, 'and still never started')
  })
})
