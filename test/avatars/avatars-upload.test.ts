import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { fixture, multipartBody, signup, startApp, storedFiles, uploadRaw, waitForJob } from '../helpers/app.ts'
import { chunkedUpload } from '../helpers/load.ts'

const filesIn = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : [])

t.test('only the user may upload their avatar: 401 without or with a bad token, 403 for another user', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const bob = await signup(app, 'bob@example.com')
  const put = (authorization?: string) =>
    app.inject({
      method: 'PUT',
      url: `/users/${ann.id}/avatar`,
      headers: { 'content-type': 'image/jpeg', ...(authorization ? { authorization } : {}) },
      payload: fs.readFileSync(fixture('photo-exif.jpg')),
    })
  t.equal((await put()).statusCode, 401)
  t.equal((await put(`Bearer ${ann.token}x`)).statusCode, 401)
  const other = await put(`Bearer ${bob.token}`)
  t.equal(other.statusCode, 403)
  t.equal(other.json().code, 'FORBIDDEN')
})

t.test('an accepted upload answers 202 with the job; the original is on disk and the job in the journal', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  await app.runner?.stop(0) // hold the work back to look at what the answer promised
  const res = await uploadRaw(app, ann, 'photo-exif.jpg')
  t.equal(res.statusCode, 202)
  const { jobId, status } = res.json()
  t.equal(status, 'queued')
  t.equal(res.headers.location, `/jobs/${jobId}`)
  const job = await app.queue.get(jobId)
  t.equal(job?.status, 'queued')
  t.equal(job?.kind, 'image.avatar')
  const original = path.join(
    storedFiles(app).originals,
    (job?.payload as { original: string } | undefined)?.original ?? '',
  )
  t.same(fs.readFileSync(original), fs.readFileSync(fixture('photo-exif.jpg')), 'the original, byte for byte')
  t.same(filesIn(app.paths.incoming), [], 'no partial upload left behind')
})

t.test('multipart/form-data with field "file" is accepted; another field or none is a 400 MISSING_FILE', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const send = (field: string) => {
    const { payload, contentType } = multipartBody(field, 'me.png', fs.readFileSync(fixture('alpha.png')))
    return app.inject({
      method: 'PUT',
      url: `/users/${ann.id}/avatar`,
      headers: { authorization: `Bearer ${ann.token}`, 'content-type': contentType },
      payload,
    })
  }
  const ok = await send('file')
  t.equal(ok.statusCode, 202)
  t.equal((await waitForJob(app, ann, ok.json().jobId)).status, 'succeeded')
  const wrong = await send('picture')
  t.equal(wrong.statusCode, 400)
  t.equal(wrong.json().code, 'MISSING_FILE')
  const boundary = 'xyz'
  const empty = await app.inject({
    method: 'PUT',
    url: `/users/${ann.id}/avatar`,
    headers: { authorization: `Bearer ${ann.token}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: `--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--${boundary}--\r\n`,
  })
  t.equal(empty.statusCode, 400)
  t.equal(empty.json().code, 'MISSING_FILE')
})

t.test(
  'uploads over MAX_UPLOAD_BYTES get 413 PAYLOAD_TOO_LARGE, raw or multipart, and leave nothing behind',
  async (t) => {
    const app = await startApp(t, { MAX_UPLOAD_BYTES: '20000' })
    const ann = await signup(app, 'ann@example.com')
    const raw = await uploadRaw(app, ann, 'photo-exif.jpg') // 50+ KB
    t.equal(raw.statusCode, 413)
    t.equal(raw.json().code, 'PAYLOAD_TOO_LARGE')
    const { payload, contentType } = multipartBody('file', 'big.jpg', fs.readFileSync(fixture('photo-exif.jpg')))
    const multi = await app.inject({
      method: 'PUT',
      url: `/users/${ann.id}/avatar`,
      headers: { authorization: `Bearer ${ann.token}`, 'content-type': contentType },
      payload,
    })
    t.equal(multi.statusCode, 413)
    t.equal(multi.json().code, 'PAYLOAD_TOO_LARGE')
    t.same(filesIn(app.paths.incoming), [], 'no partial upload left behind')
    t.same(filesIn(storedFiles(app).originals), [], 'nothing was stored')
    const small = await uploadRaw(app, ann, 'alpha.png', 'image/png')
    t.equal(small.statusCode, 202, 'an upload under the limit still works')
  },
)

t.test('a body that is not image/* or multipart is refused with 415', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  for (const type of ['application/octet-stream', 'application/json', 'text/plain']) {
    const res = await app.inject({
      method: 'PUT',
      url: `/users/${ann.id}/avatar`,
      headers: { authorization: `Bearer ${ann.token}`, 'content-type': type },
      payload: '{}',
    })
    t.equal(res.statusCode, 415, type)
    t.equal(res.json().code, 'UNSUPPORTED_MEDIA_TYPE', type)
  }
})

t.test(
  'over real HTTP, a chunked upload (no Content-Length) is cut off at the limit with a 413 the client reads',
  async (t) => {
    const app = await startApp(t, { MAX_UPLOAD_BYTES: '20000' })
    const ann = await signup(app, 'ann@example.com')
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    // 64 KiB in 4 KiB chunks, more than the limit; the server answers before it has read them all.
    const answer = await chunkedUpload(
      `http://127.0.0.1:${port}`,
      ann,
      Array.from({ length: 16 }, () => Buffer.alloc(4096, 0xff)),
    )
    t.equal(answer.status, 413)
    t.equal(JSON.parse(answer.body).code, 'PAYLOAD_TOO_LARGE')
    t.same(filesIn(app.paths.incoming), [], 'the partial upload was removed')
  },
)

t.test('over real HTTP, an upload whose first bytes arrive a few at a time is still known by them', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  await app.runner?.stop(0) // the answer is what is looked at, not the work
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  // The type is read from the first 64 bytes as they pass: here they come in pieces of 5, 20 ms apart.
  const inPieces = (bytes: Buffer) => [
    ...Array.from({ length: 20 }, (_, i) => bytes.subarray(i * 5, i * 5 + 5)),
    bytes.subarray(100),
  ]
  const webp = await chunkedUpload(`http://127.0.0.1:${port}`, ann, inPieces(fs.readFileSync(fixture('image.webp'))), {
    delayMs: 20,
  })
  t.equal(webp.status, 202, 'a WebP (known by its 12th byte) is accepted')
  const job = await app.queue.get(JSON.parse(webp.body).jobId)
  t.match((job?.payload as { original: string } | undefined)?.original, /\.webp$/, 'and stored as one')
  const text = await chunkedUpload(`http://127.0.0.1:${port}`, ann, inPieces(Buffer.alloc(4096, 'x')), { delayMs: 20 })
  t.equal(text.status, 415, 'bytes that are no image are refused')
  t.equal(JSON.parse(text.body).code, 'UNSUPPORTED_MEDIA_TYPE')
})
