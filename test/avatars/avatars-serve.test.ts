import fs from 'node:fs'
import t from 'tap'
import { signup, startApp, storedFiles, uploadRaw, waitForJob } from '../helpers/app.ts'

t.test('GET /users/:id/avatar: 404 before the first success, then served with negotiation and caching', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const before = await app.inject({ url: `/users/${ann.id}/avatar` })
  t.equal(before.statusCode, 404)
  t.equal(before.json().code, 'AVATAR_NOT_FOUND')

  const job = await waitForJob(app, ann, (await uploadRaw(app, ann, 'photo-exif.jpg')).json().jobId)
  const get = (query: string, headers: Record<string, string> = {}) =>
    app.inject({ url: `/users/${ann.id}/avatar${query}`, headers })

  const avif = await get('?size=128', { accept: 'image/avif,image/webp,*/*' })
  t.equal(avif.statusCode, 200)
  t.equal(avif.headers['content-type'], 'image/avif')
  t.equal(avif.headers.vary, 'Accept')
  const file = `${storedFiles(app).avatarVersion(ann.id, job.id)}/128.avif`
  t.same(avif.rawPayload, fs.readFileSync(file), 'the bytes of the 128 px AVIF')
  t.equal(Number(avif.headers['content-length']), fs.statSync(file).size)
  t.equal((await get('?size=128', { accept: 'image/webp,*/*' })).headers['content-type'], 'image/webp')
  t.equal((await get('?size=128', { accept: 'image/avif;q=0,image/webp' })).headers['content-type'], 'image/webp')
  t.equal((await get('?size=128', { accept: '*/*' })).headers['content-type'], 'image/jpeg')
  t.equal((await get('?size=128')).headers['content-type'], 'image/jpeg', 'no Accept: JPEG')
  t.equal((await get('?size=128&format=webp', { accept: 'image/avif' })).headers['content-type'], 'image/webp')

  const largest = await get('', { accept: 'image/webp' })
  t.same(
    largest.rawPayload,
    fs.readFileSync(`${storedFiles(app).avatarVersion(ann.id, job.id)}/512.webp`),
    'default: largest',
  )

  const bad = await get('?size=100')
  t.equal(bad.statusCode, 400, 'a size not configured')
  t.equal(bad.json().code, 'VALIDATION')
  t.equal((await get('?size=64&format=gif')).statusCode, 400, 'a format not made')

  const plain = await get('?size=64', { accept: 'image/webp' })
  t.equal(plain.headers['cache-control'], 'public, no-cache', 'unversioned URL: revalidate')
  t.equal(plain.headers['x-content-type-options'], 'nosniff')
  t.match(plain.headers['content-security-policy'], /default-src 'none'/)
  const etag = plain.headers.etag as string
  t.match(etag, /^"[0-9a-f-]+-64\.webp"$/)
  const notModified = await get('?size=64', { accept: 'image/webp', 'if-none-match': etag })
  t.equal(notModified.statusCode, 304)
  t.equal(notModified.rawPayload.length, 0)

  const profile = (await app.inject({ url: `/users/${ann.id}` })).json()
  t.equal(profile.avatar.status, 'ready')
  t.equal(profile.avatar.placeholder, job.result.placeholder)
  t.equal(profile.avatar.variants.length, 12)
  const url = profile.avatar.variants.find(
    (v: { size: number; format: string }) => v.size === 256 && v.format === 'webp',
  ).url
  const versioned = await app.inject({ url })
  t.equal(versioned.statusCode, 200)
  t.equal(versioned.headers['content-type'], 'image/webp')
  t.equal(versioned.headers['cache-control'], 'public, max-age=31536000, immutable', 'versioned URL: cached for a year')
})

t.test(
  'a new upload replaces the avatar: the old one is served until the new one succeeded, then removed',
  async (t) => {
    const app = await startApp(t)
    const ann = await signup(app, 'ann@example.com')
    const first = await waitForJob(app, ann, (await uploadRaw(app, ann, 'photo-exif.jpg')).json().jobId)
    const firstDir = storedFiles(app).avatarVersion(ann.id, first.id)

    await app.runner?.stop(0) // hold the second upload in the journal
    const second = (await uploadRaw(app, ann, 'alpha.png')).json().jobId
    const meanwhile = (await app.inject({ url: `/users/${ann.id}` })).json().avatar
    t.equal(meanwhile.status, 'processing', 'the profile says a new one is coming')
    t.match(meanwhile.variants[0].url, first.id, 'and still points at the first')
    t.equal((await app.inject({ url: `/users/${ann.id}/avatar?size=64` })).statusCode, 200, 'the first is still served')
    t.ok(fs.existsSync(firstDir))
    // A restart on the same DATA_DIR takes up the held job.
    await app.close()
    const again = await startApp(t, { DATA_DIR: app.config.dataDir })
    const done = await waitForJob(again, ann, second)
    t.equal(done.status, 'succeeded')
    t.equal(done.result.current, true)
    const after = (await again.inject({ url: `/users/${ann.id}` })).json().avatar
    t.equal(after.status, 'ready')
    t.match(after.variants[0].url, second)
    t.notOk(fs.existsSync(firstDir), "the first avatar's files are gone")
  },
)

t.test('concurrent uploads end with exactly one current avatar, the last accepted, and never none', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const first = await waitForJob(app, ann, (await uploadRaw(app, ann, 'image.webp')).json().jobId)
  const names = ['photo-exif.jpg', 'alpha.png', 'cmyk.jpg', 'image.tiff', 'deep-16bit.png', 'animated.gif']
  let served = 0
  let missing = 0
  let polling = true
  const poller = (async () => {
    while (polling) {
      const res = await app.inject({ url: `/users/${ann.id}/avatar?size=64` })
      if (res.statusCode === 200) served++
      else missing++
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  const answers = await Promise.all(names.map((n) => uploadRaw(app, ann, n, 'image/png')))
  const jobIds = answers.map((a) => a.json().jobId as string)
  await Promise.all(jobIds.map((id) => waitForJob(app, ann, id)))
  polling = false
  await poller
  t.equal(missing, 0, `the avatar was served ${served} times while replaced, never missing`)
  // The user's row names the job of its newest accepted upload, written in the transaction that counted it (a
  // succeeded job keeps no payload to read its number from: jobs_done).
  const lastAccepted = (await app.users.findById(ann.id))?.avatarJob as string
  t.ok(jobIds.includes(lastAccepted), 'the newest accepted upload is one of the six')
  const current = await app.avatars.current(ann.id)
  t.equal(current?.version, lastAccepted, 'the last accepted upload is current')
  t.equal(current?.seq, 1 + names.length, 'with the highest number of all seven uploads')
  const versions = fs.readdirSync(`${storedFiles(app).avatars}/${ann.id}`)
  t.same(versions, [lastAccepted], 'and only its files remain')
  t.not(current?.version, first.id)
})
