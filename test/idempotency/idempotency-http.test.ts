import fs from 'node:fs'
import net from 'node:net'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { AvatarKind } from '../../src/avatars/job.ts'
import { countRows, fixture, getJob, multipartBody, type SignedUp, signup, startApp } from '../helpers/app.ts'
import { listening } from '../helpers/raw-http.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { waitFor } from '../helpers/wait.ts'

/*
 * Idempotency-Key on POST /signup and PUT /users/:id/avatar, on each way deckhand keeps its data: the key's
 * answer lives beside what it guards (the user and its mails; the avatar job, or its outbox row).
 */
const modes: Record<string, (t: Parameters<typeof scaledEnv>[0]) => Promise<Record<string, string> | undefined>> = {
  'SQLite journal': async () => ({}),
  'PostgreSQL journal': async (t) =>
    (await servicesAvailable(t)) ? { ...(await scaledEnv(t)), QUEUE: 'journal' } : undefined,
  'PostgreSQL + BullMQ': async (t) => ((await servicesAvailable(t)) ? scaledEnv(t) : undefined),
}

const KEY = '"5f0c6a7e-3b8d-4c1e-9a2f-0d4b6e8c1a37"'

const signupWith = (app: FastifyInstance, key: string, payload: object) =>
  app.inject({ method: 'POST', url: '/signup', headers: { 'idempotency-key': key }, payload })

const uploadWith = (app: FastifyInstance, user: SignedUp, key: string, name: string) =>
  app.inject({
    method: 'PUT',
    url: `/users/${user.id}/avatar`,
    headers: { authorization: `Bearer ${user.token}`, 'content-type': 'image/jpeg', 'idempotency-key': key },
    payload: fs.readFileSync(fixture(name)),
  })

const idempotencyRows = async (app: FastifyInstance) =>
  Number(
    (
      await app.database.db
        .selectFrom('idempotency_keys')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  )

for (const [mode, environment] of Object.entries(modes)) {
  t.test(mode, async (t) => {
    const env = await environment(t)
    if (!env) return
    // Jobs stay queued (no SMTP server there): counting them counts what was created, not what ran.
    const app = await startApp(t, { ...env, SMTP_URL: 'smtp://127.0.0.1:9', MAX_ATTEMPTS: '1' })

    t.test(
      'a signup retried with its key: the same user, jobs and a working token; nothing created twice',
      async (t) => {
        const first = await signupWith(app, KEY, { email: 'ann@example.com', name: 'Ann' })
        t.equal(first.statusCode, 201)
        t.notOk(first.headers['idempotent-replayed'], 'the first answer is no replay')
        const again = await signupWith(app, KEY, { email: 'ann@example.com', name: 'Ann' })
        t.equal(again.statusCode, 201)
        t.equal(again.headers['idempotent-replayed'], 'true')
        t.equal(again.headers.location, first.headers.location)
        t.same(again.json(), first.json(), 'the same id, token and jobs')
        const user = again.json() as SignedUp
        t.equal((await getJob(app, user, user.jobs[0]?.id as string)).id, user.jobs[0]?.id, 'the token works')
        t.equal(await countRows(app, 'users'), 1, 'one user')
        t.equal(await idempotencyRows(app), 1, 'one kept answer')

        const other = await signupWith(app, KEY, { email: 'ann@example.com' })
        t.equal(other.statusCode, 422, 'the same key with another body')
        t.equal(other.json().code, 'IDEMPOTENCY_KEY_REUSED')
        const plain = await app.inject({ method: 'POST', url: '/signup', payload: { email: 'ann@example.com' } })
        t.equal(plain.json().code, 'EMAIL_TAKEN', 'without the key, the address is taken as before')
        t.equal(await countRows(app, 'users'), 1)
      },
    )

    t.test('the key is kept as a hash, and the token nowhere', async (t) => {
      const key = 'bare-key-without-quotes-0001'
      const res = await signupWith(app, key, { email: 'hash@example.com' })
      const rows = await app.database.db.selectFrom('idempotency_keys').selectAll().execute()
      const text = JSON.stringify(rows)
      t.notOk(text.includes(key), 'the key is not stored')
      t.notOk(text.includes(res.json().token.split('.')[1]), 'the token is not stored')
      const again = await signupWith(app, `"${key}"`, { email: 'hash@example.com' })
      t.equal(again.json().token, res.json().token, 'quoted (the draft) and bare are the same key')
    })

    t.test('an avatar upload retried with its key: the same job, one job, one upload counted', async (t) => {
      const user = await signup(app, 'up@example.com')
      const key = '"upload-key-0000000000000001"'
      const first = await uploadWith(app, user, key, 'photo-exif.jpg')
      t.equal(first.statusCode, 202)
      const again = await uploadWith(app, user, key, 'photo-exif.jpg')
      t.equal(again.statusCode, 202)
      t.equal(again.headers['idempotent-replayed'], 'true')
      t.equal(again.json().jobId, first.json().jobId, 'the same job id')
      // BullMQ: once the outbox is empty every job is in Redis, where listAll sees it.
      await waitFor('the outbox handed over', async () => (await countRows(app, 'outbox')) === 0)
      const jobs = await app.queue.listAll(AvatarKind, ['queued', 'running', 'succeeded', 'failed'])
      t.equal(jobs.filter((j) => j.ownerId === user.id).length, 1, 'one avatar job')
      const other = await uploadWith(app, user, key, 'alpha.png')
      t.equal(other.statusCode, 422, 'the same key with other bytes')
      t.equal(other.json().code, 'IDEMPOTENCY_KEY_REUSED')

      // Keys are the user's own: another user's upload with the same key is a request of its own.
      const bob = await signup(app, 'bob-up@example.com')
      const bobs = await uploadWith(app, bob, key, 'photo-exif.jpg')
      t.equal(bobs.statusCode, 202)
      t.not(bobs.json().jobId, first.json().jobId)
      t.notOk(bobs.headers['idempotent-replayed'])
    })

    t.test('a multipart upload: the same file with another file name is another request', async (t) => {
      const user = await signup(app, 'form@example.com')
      const bytes = fs.readFileSync(fixture('photo-exif.jpg'))
      const send = (filename: string) => {
        const { payload, contentType } = multipartBody('file', filename, bytes)
        return app.inject({
          method: 'PUT',
          url: `/users/${user.id}/avatar`,
          headers: {
            authorization: `Bearer ${user.token}`,
            'content-type': contentType,
            'idempotency-key': 'form-key-00000000000001',
          },
          payload,
        })
      }
      const first = await send('a.jpg')
      const again = await send('a.jpg')
      t.equal(again.json().jobId, first.json().jobId, 'a new boundary, the same form: replayed')
      t.equal((await send('b.jpg')).statusCode, 422)
    })
  })
}

t.test('malformed keys: 400 IDEMPOTENCY_KEY_INVALID, saying what a key may hold, never echoing it', async (t) => {
  const app = await startApp(t)
  for (const [what, key] of [
    ['too short', 'short-key'],
    ['too long', 'k'.repeat(256)],
    ['an unterminated quote', '"0123456789abcdefgh'],
    ['a space in a bare key', '0123456789 abcdefgh'],
    ['a header sent twice', 'first-key-0123456789, second-key-0123456789'],
    ['a control character', '"0123456789abcdefgh\t"'],
  ] as [string, string][]) {
    const res = await signupWith(app, key, { email: 'x@example.com' })
    t.equal(res.statusCode, 400, what)
    t.equal(res.json().code, 'IDEMPOTENCY_KEY_INVALID', what)
    t.match(res.json().message, /idempotency-key.*16 to 255 printable ASCII characters/, what)
    t.notOk(res.json().message.includes(key), `${what}: the key is not echoed`)
  }
  t.equal(await countRows(app, 'users'), 0)
  t.equal((await signupWith(app, `"${'\\"'.repeat(16)}"`, { email: 'x@example.com' })).statusCode, 201, 'escapes count')
})

t.test('past IDEMPOTENCY_TTL_MS a key is forgotten: its retry is a new request', async (t) => {
  const app = await startApp(t, { IDEMPOTENCY_TTL_MS: '1000', SMTP_URL: 'smtp://127.0.0.1:9' })
  const user = await signup(app, 'ttl@example.com')
  const key = 'ttl-key-000000000000001'
  const first = await uploadWith(app, user, key, 'photo-exif.jpg')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const later = await uploadWith(app, user, key, 'photo-exif.jpg')
  t.equal(later.statusCode, 202)
  t.notOk(later.headers['idempotent-replayed'])
  t.not(later.json().jobId, first.json().jobId, 'a second job')
  const signedUp = await signupWith(app, key, { email: 'ttl2@example.com' })
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const retry = await signupWith(app, key, { email: 'ttl2@example.com' })
  t.equal(retry.json().code, 'EMAIL_TAKEN', 'a signup retried too late meets its own address')
  t.equal(signedUp.statusCode, 201)
  t.equal(await idempotencyRows(app), 2, "the upload key's new answer replaced its old one")
})

t.test('the OpenAPI document shows the header on both routes and the 409 and 422 answers', async (t) => {
  const app = await startApp(t)
  const doc = (await app.inject({ url: '/docs/json' })).json()
  for (const [path, method] of [
    ['/signup', 'post'],
    ['/users/{id}/avatar', 'put'],
  ] as const) {
    const op = doc.paths[path][method]
    const header = op.parameters.find((p: { in: string; name: string }) => p.in === 'header')
    t.equal(header?.name, 'idempotency-key', `${method} ${path}: the header`)
    t.match(header?.description, /IDEMPOTENCY_TTL_MS/)
    t.match(op.responses['409'].description, /IDEMPOTENCY_KEY_IN_FLIGHT/, `${method} ${path}: 409`)
    t.match(op.responses['422'].description, /IDEMPOTENCY_KEY_REUSED/, `${method} ${path}: 422`)
  }
})

t.test('the same key while the first upload is still arriving: 409 IDEMPOTENCY_KEY_IN_FLIGHT', async (t) => {
  const { app, port } = await listening(t)
  const user = await signup(app, 'slow@example.com')
  const bytes = fs.readFileSync(fixture('photo-exif.jpg'))
  const key = 'in-flight-key-0000000001'
  // The first upload sends its headers and half its body, and waits.
  const first = net.connect(port, '127.0.0.1')
  t.teardown(() => first.destroy())
  first.on('error', () => {})
  first.write(
    `PUT /users/${user.id}/avatar HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\n` +
      `Content-Type: image/jpeg\r\nContent-Length: ${bytes.length}\r\nIdempotency-Key: ${key}\r\n\r\n`,
  )
  const half = Math.floor(bytes.length / 2)
  first.write(bytes.subarray(0, half))
  // Its key is claimed before its bytes go to disk: a file in incoming/ means it is under way.
  const incoming = app.paths.incoming
  await waitFor('the first upload to arrive', () => fs.existsSync(incoming) && fs.readdirSync(incoming).length === 1)
  const second = await uploadWith(app, user, key, 'photo-exif.jpg')
  t.equal(second.statusCode, 409)
  t.equal(second.json().code, 'IDEMPOTENCY_KEY_IN_FLIGHT')
  // The first goes on to be accepted; a retry after it gets its job.
  const answered = new Promise<string>((resolve) => first.on('data', (chunk) => resolve(String(chunk))))
  first.write(bytes.subarray(half))
  t.match(await answered, /^HTTP\/1.1 202/)
  const retry = await uploadWith(app, user, key, 'photo-exif.jpg')
  t.equal(retry.headers['idempotent-replayed'], 'true')
})
