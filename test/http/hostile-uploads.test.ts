import fs from 'node:fs'
import type net from 'node:net'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { fixture, type SignedUp, signup, uploadRaw } from '../helpers/app.ts'
import { listening, openDescriptors, rawExchange } from '../helpers/raw-http.ts'
import { waitFor } from '../helpers/wait.ts'

const png = fs.readFileSync(fixture('alpha.png'))

function head(user: SignedUp, contentType: string, length: number) {
  return (
    `PUT /users/${user.id}/avatar HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\n` +
    `Content-Type: ${contentType}\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`
  )
}

function multipart(bytes: Buffer, close: boolean) {
  const opening = Buffer.from(
    '--XBOUND\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n' + 'Content-Type: image/png\r\n\r\n',
  )
  return Buffer.concat([opening, bytes, Buffer.from(close ? '\r\n--XBOUND--\r\n' : '')])
}

/** Nothing of an upload outlives its request: no descriptor into the upload folder, no file in it. */
async function nothingLeftBehind(t: Test, incoming: string, baseline: number) {
  const state = await waitFor(
    'upload descriptors and files to be released',
    () => {
      const fds = openDescriptors(incoming)
      const files = fs.existsSync(incoming) ? fs.readdirSync(incoming) : []
      return fds.under === 0 && files.length === 0 && fds.sockets <= baseline && { fds, files }
    },
    5000,
  ).catch((err: Error) => {
    const files = fs.existsSync(incoming) ? fs.readdirSync(incoming) : []
    t.fail(`${err.message}: ${JSON.stringify({ fds: openDescriptors(incoming), baseline, files })}`)
  })
  if (state) t.pass('no descriptor and no file left behind')
}

async function setUp(t: Test) {
  // One upload in flight per user: a slot not given back by a request cut short would refuse the next upload.
  const { app, port } = await listening(t, { MAX_UPLOADS_IN_FLIGHT_PER_USER: '1' })
  const user = await signup(app, 'ann@example.com')
  const incoming = app.paths.incoming
  return { app, port, user, incoming, baseline: openDescriptors().sockets }
}

t.test('a raw upload cut short leaves no descriptor, no file and no upload slot', async (t) => {
  const { app, port, user, incoming, baseline } = await setUp(t)
  for (let i = 0; i < 15; i++) {
    await rawExchange(port, (s) => {
      s.write(head(user, 'image/png', 100_000))
      s.end(png.subarray(0, 228))
    })
  }
  await nothingLeftBehind(t, incoming, baseline)
  t.equal((await uploadRaw(app, user, 'alpha.png', 'image/png')).statusCode, 202, 'every slot was given back')
})

t.test('a multipart upload cut short (socket closed) leaves no descriptor, no file and no slot', async (t) => {
  const { app, port, user, incoming, baseline } = await setUp(t)
  for (let i = 0; i < 15; i++) {
    await rawExchange(port, (s) => {
      const body = multipart(png, true)
      s.write(head(user, 'multipart/form-data; boundary=XBOUND', body.length))
      s.end(body.subarray(0, body.length - 40))
    })
  }
  await nothingLeftBehind(t, incoming, baseline)
  t.equal((await uploadRaw(app, user, 'alpha.png', 'image/png')).statusCode, 202, 'every slot was given back')
})

t.test('a multipart body with no closing boundary is answered 400 INVALID_MULTIPART, nothing left', async (t) => {
  const { app, port, user, incoming, baseline } = await setUp(t)
  for (let i = 0; i < 15; i++) {
    const body = multipart(png, false)
    const { text } = await rawExchange(
      port,
      (s) =>
        s.write(Buffer.concat([Buffer.from(head(user, 'multipart/form-data; boundary=XBOUND', body.length)), body])),
      10_000,
    )
    t.match(text, /^HTTP\/1\.1 400/, `answered: ${text.split('\r\n')[0]}`)
    t.match(text, /"code":"INVALID_MULTIPART"/)
  }
  await nothingLeftBehind(t, incoming, baseline)
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
})

t.test('property: uploads aborted at any byte leave no descriptor and no file, and every one ends', async (t) => {
  const { port, user, incoming, baseline } = await setUp(t)
  const raw = Buffer.concat([Buffer.from(head(user, 'image/png', png.length)), png])
  const form = multipart(png, true)
  const formRequest = Buffer.concat([
    Buffer.from(head(user, 'multipart/form-data; boundary=XBOUND', form.length)),
    form,
  ])
  await fc.assert(
    fc.asyncProperty(fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }), async (isForm, share) => {
      const request = isForm ? formRequest : raw
      const cut = Math.floor(request.length * share)
      // Either answered (the request was whole) or closed by the client: the exchange must end, never hang.
      await rawExchange(port, (s: net.Socket) => {
        s.write(request.subarray(0, cut))
        if (cut < request.length) s.destroy()
        else s.end()
      })
    }),
    { numRuns: 60 },
  )
  await nothingLeftBehind(t, incoming, baseline)
})

t.test('multipart with no boundary, or the wrong one, is 400 INVALID_MULTIPART', async (t) => {
  const { app, user } = await setUp(t)
  const body = multipart(png, true)
  for (const type of ['multipart/form-data', 'multipart/form-data; boundary=OTHER', 'multipart/form-data; boundary=']) {
    const res = await app.inject({
      method: 'PUT',
      url: `/users/${user.id}/avatar`,
      headers: { authorization: `Bearer ${user.token}`, 'content-type': type },
      payload: body,
    })
    t.equal(res.statusCode, 400, `${type}: ${res.body}`)
    t.equal(res.json().code, 'INVALID_MULTIPART')
  }
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
})

/** Starts a request whose body trickles in a byte at a time; resolves with the answer and how long it took. */
function trickle(port: number, head: string) {
  return rawExchange(port, (s) => {
    s.write(head)
    const drip = setInterval(() => s.writable && s.write(' '), 200)
    s.on('close', () => clearInterval(drip))
  })
}

t.test('a request is refused before its body is read: authentication, content type, unknown routes', async (t) => {
  // A long request timeout: an answer that came only after reading the trickled body would take 60 s.
  const { port, user } = await listening(t, { REQUEST_TIMEOUT_MS: '60000' }).then(async ({ app, port }) => ({
    port,
    user: await signup(app, 'ann@example.com'),
  }))
  const other = crypto.randomUUID()
  const cases = [
    {
      what: 'no token',
      status: 401,
      head: `PUT /users/${other}/avatar HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 500\r\n\r\n`,
    },
    {
      what: 'a JSON body without a token',
      status: 401,
      head: `PUT /users/${other}/avatar HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{`,
    },
    {
      what: "another user's avatar",
      status: 403,
      head: `PUT /users/${other}/avatar HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\nContent-Type: image/png\r\nContent-Length: 500\r\n\r\n`,
    },
    {
      what: 'a JSON body with a good token',
      status: 415,
      head: `PUT /users/${user.id}/avatar HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{`,
    },
    {
      what: 'an unknown route',
      status: 404,
      head: 'POST /no/such/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{',
    },
  ]
  for (const { what, status, head } of cases) {
    const { text, ms } = await trickle(port, head)
    t.match(text, new RegExp(`^HTTP/1\\.1 ${status}`), `${what}: ${text.split('\r\n')[0]}`)
    t.ok(ms < 5000, `${what}: answered after ${ms} ms, without waiting for the body`)
  }
})
