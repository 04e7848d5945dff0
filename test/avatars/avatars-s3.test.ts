import fs from 'node:fs'
import t from 'tap'
import { signup, startApp, uploadRaw, waitForJob } from '../helpers/app.ts'
import { countJobs, fillJobs } from '../helpers/journal.ts'
import { startS3rver } from '../helpers/s3.ts'

/*
 * The avatar flow with STORAGE_URL, against a real S3 protocol server (s3rver, in process): nothing is kept in
 * a shared folder, the api and the worker meet only in the database and the bucket.
 */

const HOUR = 3_600_000

async function bodyOf(res: Response | { rawPayload: Buffer }) {
  return res instanceof Response ? Buffer.from(await res.arrayBuffer()) : res.rawPayload
}

t.test('upload → job → GET: the avatar is served from the bucket with its ETag, 304 and caching', async (t) => {
  const s3 = await startS3rver(t)
  const app = await startApp(t, s3.env('deckhand'))
  const ann = await signup(app, 'ann@example.com')
  const accepted = await uploadRaw(app, ann, 'photo-exif.jpg')
  t.equal(accepted.statusCode, 202)
  const job = await waitForJob(app, ann, accepted.json().jobId)
  t.equal(job.status, 'succeeded')

  const keys = s3.keys()
  t.equal(keys.filter((k) => k.startsWith(`deckhand/avatars/${ann.id}/${job.id}/`)).length, 12, 'every variant')
  t.notOk(
    keys.some((k) => k.includes('uploads/originals/')),
    'the original is gone once its job succeeded',
  )

  const get = (query: string, headers: Record<string, string> = {}) =>
    app.inject({ url: `/users/${ann.id}/avatar${query}`, headers })
  const webp = await get('?size=128', { accept: 'image/webp,*/*' })
  t.equal(webp.statusCode, 200)
  t.equal(webp.headers['content-type'], 'image/webp')
  t.equal(webp.headers.vary, 'Accept')
  const stored = await app.store.get(`avatars/${ann.id}/${job.id}/128.webp`)
  const chunks: Buffer[] = []
  for await (const chunk of stored ?? []) chunks.push(chunk as Buffer)
  t.same(await bodyOf(webp), Buffer.concat(chunks), 'the bytes of the object in the bucket')
  t.equal(Number(webp.headers['content-length']), Buffer.concat(chunks).length)
  t.equal(webp.headers.etag, `"${job.id}-128.webp"`)
  t.equal(webp.headers['cache-control'], 'public, no-cache')
  t.equal((await get('?size=128', { accept: 'image/avif' })).headers['content-type'], 'image/avif')
  t.equal((await get('?size=128')).headers['content-type'], 'image/jpeg')

  const notModified = await get('?size=128', { accept: 'image/webp', 'if-none-match': webp.headers.etag as string })
  t.equal(notModified.statusCode, 304)
  t.equal(notModified.rawPayload.length, 0)
  const versioned = await get(`?size=128&format=webp&v=${job.id}`)
  t.equal(versioned.headers['cache-control'], 'public, max-age=31536000, immutable')

  const ready = await app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 200, 'ready: the bucket answers')
})

t.test("a second upload replaces the first: the first version's objects are deleted after promotion", async (t) => {
  const s3 = await startS3rver(t)
  const app = await startApp(t, s3.env())
  const ann = await signup(app, 'ann@example.com')
  const first = await waitForJob(app, ann, (await uploadRaw(app, ann, 'photo-exif.jpg')).json().jobId)
  const firstKeys = () => s3.keys().filter((k) => k.includes(`/${first.id}/`))
  t.equal(firstKeys().length, 12)
  const second = await waitForJob(app, ann, (await uploadRaw(app, ann, 'alpha.png')).json().jobId)
  t.equal(second.status, 'succeeded')
  t.equal(second.result.current, true)
  t.same(firstKeys(), [], "the first version's objects are gone")
  t.equal(s3.keys().filter((k) => k.includes(`/${second.id}/`)).length, 12, "the second's are there")
  const served = await app.inject({ url: `/users/${ann.id}/avatar?size=64` })
  t.equal(served.headers.etag, `"${second.id}-64.jpeg"`)
})

t.test('AVATAR_REDIRECT: a 302 to a presigned URL of the bucket that serves the object', async (t) => {
  const s3 = await startS3rver(t)
  const app = await startApp(t, { ...s3.env(), AVATAR_REDIRECT: 'true', AVATAR_REDIRECT_EXPIRES_S: '600' })
  const ann = await signup(app, 'ann@example.com')
  const job = await waitForJob(app, ann, (await uploadRaw(app, ann, 'photo-exif.jpg')).json().jobId)

  const res = await app.inject({ url: `/users/${ann.id}/avatar?size=256`, headers: { accept: 'image/webp' } })
  t.equal(res.statusCode, 302)
  t.equal(res.headers['cache-control'], 'no-cache', 'the bare URL moves with each new avatar')
  t.equal(res.headers.vary, 'Accept')
  const location = res.headers.location as string
  t.match(location, `${s3.endpoint}/${s3.bucket}/test/avatars/${ann.id}/${job.id}/256.webp?`)
  t.match(location, /X-Amz-Expires=600/)
  const fetched = await fetch(location)
  t.equal(fetched.status, 200)
  t.equal(fetched.headers.get('content-type'), 'image/webp', 'the bucket answers with the type of the variant')
  t.equal(fetched.headers.get('cache-control'), 'public, max-age=31536000, immutable', 'a version never changes')
  for (const format of ['jpeg', 'avif'] as const) {
    const key = `test/avatars/${ann.id}/${job.id}/64.${format}`
    const head = await fetch(`${s3.endpoint}/${s3.bucket}/${key}`, { method: 'HEAD' })
    t.equal(head.headers.get('content-type'), `image/${format}`, `HEAD of ${format} from the bucket`)
    t.equal(head.headers.get('cache-control'), 'public, max-age=31536000, immutable')
  }
  const object = await app.store.get(`avatars/${ann.id}/${job.id}/256.webp`)
  const chunks: Buffer[] = []
  for await (const chunk of object ?? []) chunks.push(chunk as Buffer)
  t.same(await bodyOf(fetched), Buffer.concat(chunks), 'the presigned URL serves the variant')

  const versioned = await app.inject({ url: `/users/${ann.id}/avatar?size=256&format=webp&v=${job.id}` })
  t.equal(versioned.statusCode, 302)
  t.equal(versioned.headers['cache-control'], 'public, max-age=300', 'half the life of the URL')
})

t.test(
  'a bucket out of reach: 503 DEPENDENCY_UNAVAILABLE with Retry-After, fast; no upload acknowledged',
  async (t) => {
    const s3 = await startS3rver(t)
    const app = await startApp(t, { ...s3.env(), DEPENDENCY_TIMEOUT_MS: '500' })
    const ann = await signup(app, 'ann@example.com')
    const job = await waitForJob(app, ann, (await uploadRaw(app, ann, 'photo-exif.jpg')).json().jobId)
    // Counted wherever they are: the signup's mails may move to jobs_done meanwhile.
    const jobsBefore = await countJobs(app.database.db)
    await s3.stop()

    const started = Date.now()
    const upload = await uploadRaw(app, ann, 'alpha.png')
    t.ok(Date.now() - started < 2000, `answered in ${Date.now() - started} ms`)
    t.equal(upload.statusCode, 503, 'no 202 without the original stored')
    t.equal(upload.json().code, 'DEPENDENCY_UNAVAILABLE')
    t.match(upload.json().message, /object storage/)
    t.ok(upload.headers['retry-after'], 'Retry-After')
    t.equal(await countJobs(app.database.db), jobsBefore, 'no job was queued')

    const get = await app.inject({ url: `/users/${ann.id}/avatar?size=64` })
    t.equal(get.statusCode, 503, 'serving: 503, not a 500')
    t.equal(get.json().code, 'DEPENDENCY_UNAVAILABLE')
    t.ok(get.headers['retry-after'])
    const notModified = await app.inject({
      url: `/users/${ann.id}/avatar?size=64`,
      headers: { 'if-none-match': `"${job.id}-64.jpeg"` },
    })
    t.equal(notModified.statusCode, 304, 'a client whose copy is current needs no bucket')

    const ready = await app.inject({ url: '/readyz' })
    t.equal(ready.statusCode, 503)
    t.match(ready.json().message, /storage/)

    await s3.start()
    const again = await uploadRaw(app, ann, 'alpha.png')
    t.equal(again.statusCode, 202, 'back: uploads are accepted again')
    t.equal((await waitForJob(app, ann, again.json().jobId)).status, 'succeeded')
  },
)

t.test('a bucket that fails during a job: the job is tried again and succeeds once it is back', async (t) => {
  const s3 = await startS3rver(t)
  const env = { ...s3.env(), MAX_ATTEMPTS: '100', RETRY_BASE_MS: '50', RETRY_MAX_MS: '200' }
  const app = await startApp(t, env)
  const ann = await signup(app, 'ann@example.com')
  await app.runner?.stop(0) // the job waits in the journal
  const jobId = (await uploadRaw(app, ann, 'photo-exif.jpg')).json().jobId
  await app.close()

  await s3.stop()
  const again = await startApp(t, { ...env, DATA_DIR: app.config.dataDir })
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const meanwhile = (
    await again.inject({ url: `/jobs/${jobId}`, headers: { authorization: `Bearer ${ann.token}` } })
  ).json()
  t.not(meanwhile.status, 'failed', 'not failed: the bucket is a passing fault')
  t.ok(meanwhile.attempts > 1, `tried ${meanwhile.attempts} times meanwhile`)
  await s3.start()
  const done = await waitForJob(again, ann, jobId)
  t.equal(done.status, 'succeeded')
  t.equal((await again.inject({ url: `/users/${ann.id}/avatar?size=64` })).statusCode, 200)
})

t.test('retention and the orphan sweep work on the bucket', async (t) => {
  const s3 = await startS3rver(t)
  const app = await startApp(t, { ...s3.env(), FAILED_JOB_RETENTION_MS: String(HOUR) })
  const ann = await signup(app, 'ann@example.com')
  const job = await waitForJob(app, ann, (await uploadRaw(app, ann, 'photo-exif.jpg')).json().jobId)
  const { store } = app
  const longAgo = new Date(Date.now() - 2 * HOUR)
  const put = async (key: string, old: boolean) => {
    const file = `${app.config.dataDir}/put-${Math.random()}`
    fs.writeFileSync(file, 'x')
    await store.putFile(key, file)
    if (old) s3.age(`test/${key}`, longAgo)
  }
  // A failed job past FAILED_JOB_RETENTION_MS: the retention sweep deletes it, and its original goes with it.
  await fillJobs(app.database.db, {
    count: 1,
    prefix: 'failed-old-',
    status: 'failed',
    finishedAt: Date.now() - 2 * HOUR,
    kind: 'image.avatar',
    ownerId: ann.id,
    payload: JSON.stringify({ userId: ann.id, seq: 1, original: 'failed-old.jpg' }),
  })
  await fillJobs(app.database.db, {
    count: 1,
    prefix: 'failed-young-',
    status: 'failed',
    finishedAt: Date.now(),
    kind: 'image.avatar',
    ownerId: ann.id,
    payload: JSON.stringify({ userId: ann.id, seq: 1, original: 'failed-young.jpg' }),
  })
  await put('uploads/originals/failed-old.jpg', true)
  await put('uploads/originals/failed-young.jpg', true) // kept for an admin's retry
  await put('uploads/originals/stray.jpg', true) // no job points to it
  await put('uploads/originals/fresh.jpg', false) // its job may be committing now
  await put(`avatars/${ann.id}/no-such-job/64.jpeg`, true) // a version whose job is gone
  await put(`avatars/${ann.id}/no-such-job/128.jpeg`, true)
  await put(`avatars/${ann.id}/young/64.jpeg`, false) // maybe still being written
  for (const key of s3.keys().filter((k) => k.includes(`/${job.id}/`))) s3.age(key, longAgo) // current: kept

  await app.sweeper.sweep()
  const keys = s3.keys()
  t.notOk(keys.includes('test/uploads/originals/stray.jpg'), 'a stray original is deleted')
  t.ok(keys.includes('test/uploads/originals/fresh.jpg'), 'a young original is kept')
  t.notOk(keys.includes('test/uploads/originals/failed-old.jpg'), 'the original of a job past retention is deleted')
  t.equal(await app.queue.get('failed-old-1'), undefined, 'with its job')
  t.ok(keys.includes('test/uploads/originals/failed-young.jpg'), 'the original of a failed job still kept is kept')
  t.notOk(
    keys.some((k) => k.includes('/no-such-job/')),
    'a version whose job is gone is deleted, all its objects',
  )
  t.ok(keys.includes(`test/avatars/${ann.id}/young/64.jpeg`), 'a young version is kept')
  t.equal(keys.filter((k) => k.includes(`/${job.id}/`)).length, 12, 'the current avatar is kept, however old')
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, /deckhand_files_swept_total\{what="original"\} 2/)
  t.match(metrics, /deckhand_files_swept_total\{what="version"\} 1/)
})

t.test('the bucket stopped mid-load, then back: every 202 becomes an avatar, every refusal is a 503', async (t) => {
  const s3 = await startS3rver(t)
  const env = {
    ...s3.env(),
    DEPENDENCY_TIMEOUT_MS: '500',
    MAX_ATTEMPTS: '100',
    RETRY_BASE_MS: '50',
    RETRY_MAX_MS: '200',
  }
  const app = await startApp(t, env)
  const users = await Promise.all([0, 1, 2, 3].map((i) => signup(app, `load${i}@example.com`)))
  const accepted: { user: (typeof users)[number]; jobId: string }[] = []
  const statuses = new Map<number, number>()
  let sending = true
  // Bounded, so that the jobs to wait for afterwards stay few on a busy machine.
  const load = users.map(async (user) => {
    for (let sent = 0; sending && sent < 30; sent++) {
      const res = await uploadRaw(app, user, 'image.webp', 'image/webp')
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode === 202) accepted.push({ user, jobId: res.json().jobId })
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
  await pause(700)
  await s3.stop()
  await pause(1200)
  await s3.start()
  await pause(700)
  sending = false
  await Promise.all(load)

  t.same([...statuses.keys()].sort(), [202, 503], `only 202 and 503 (${JSON.stringify([...statuses])})`)
  for (const { user, jobId } of accepted) {
    const job = await waitForJob(app, user, jobId, 60_000)
    if (job.status !== 'succeeded') t.fail(`${jobId}: ${job.status} ${JSON.stringify(job.error)}`)
  }
  t.pass(`all ${accepted.length} accepted uploads succeeded`)
  for (const user of users) {
    t.equal((await app.inject({ url: `/users/${user.id}/avatar?size=64` })).statusCode, 200, 'served once back')
  }
})
