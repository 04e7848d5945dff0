import t from 'tap'
import { countRows, multipartBody, signup, startApp } from '../helpers/app.ts'
import { listening, rawExchange } from '../helpers/raw-http.ts'

t.test('huge headers are refused (431) and the process stays up', async (t) => {
  const { app, port } = await listening(t)
  const { text } = await rawExchange(port, (s) =>
    s.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
  )
  t.match(text, /^HTTP\/1\.1 431/)
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
})

t.test('a client trickling its headers is cut off after HEADERS_TIMEOUT_MS', async (t) => {
  const { port } = await listening(t, { HEADERS_TIMEOUT_MS: '1500' })
  const { text, ms } = await rawExchange(port, (s) => {
    s.write('POST /signup HTTP/1.1\r\nHost: x\r\n')
    const drip = setInterval(() => s.writable && s.write('X-Slow: 1\r\n'), 300)
    s.on('close', () => clearInterval(drip))
  })
  t.match(text, /^HTTP\/1\.1 408/)
  t.ok(ms < 5000, `closed after ${ms} ms`)
})

t.test('a client trickling its body is cut off after REQUEST_TIMEOUT_MS', async (t) => {
  const { app, port } = await listening(t, { HEADERS_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2000' })
  const { text, ms } = await rawExchange(port, (s) => {
    s.write('POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{')
    const drip = setInterval(() => s.writable && s.write(' '), 300)
    s.on('close', () => clearInterval(drip))
  })
  t.match(text, /^HTTP\/1\.1 408/)
  t.ok(ms < 6000, `closed after ${ms} ms`)
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
})

t.test('multipart with too many parts or fields is refused with 413', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const boundary = 'b0undary'
  const field = (name: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\nx\r\n`
  const fields = Array.from({ length: 30 }, (_, i) => field(`f${i}`)).join('')
  const res = await app.inject({
    method: 'PUT',
    url: `/users/${ann.id}/avatar`,
    headers: { authorization: `Bearer ${ann.token}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: `${fields}--${boundary}--\r\n`,
  })
  t.equal(res.statusCode, 413)
  t.equal(res.json().code, 'PAYLOAD_TOO_LARGE')
  const { payload, contentType } = multipartBody('file', 'a.png', Buffer.from('not really'))
  const two = Buffer.concat([
    payload.subarray(0, payload.length - `--\r\n`.length - 2),
    payload.subarray(payload.indexOf('\r\n') + 2),
  ])
  const second = await app.inject({
    method: 'PUT',
    url: `/users/${ann.id}/avatar`,
    headers: { authorization: `Bearer ${ann.token}`, 'content-type': contentType },
    payload: two,
  })
  t.ok(second.statusCode >= 400 && second.statusCode < 500, `a malformed multipart body: ${second.statusCode}`)
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
})

t.test('garbage ids and paths get a 4xx JSON error, never a file', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const auth = { authorization: `Bearer ${ann.token}` }
  const urls = [
    '/users/..%2F..%2Fetc%2Fpasswd',
    '/users/../../etc/passwd/avatar',
    '/users/%2e%2e/avatar?size=64',
    `/users/${ann.id}%00/avatar`,
    '/jobs/..%5C..%5Cwindows',
    `/jobs/${'9'.repeat(5000)}`,
    '/users/ünïcödé',
  ]
  for (const url of urls) {
    for (const method of ['GET', 'PUT'] as const) {
      const res = await app.inject({
        method,
        url,
        headers: { ...auth, 'content-type': 'image/png' },
        payload: method === 'PUT' ? 'x' : undefined,
      })
      t.ok(res.statusCode >= 400 && res.statusCode < 500, `${method} ${url.slice(0, 60)}: ${res.statusCode}`)
      t.match(res.headers['content-type'], /application\/json/)
      t.notMatch(res.body, /root:/)
    }
  }
})

t.test('very long and unicode e-mail addresses get 400 VALIDATION', async (t) => {
  const app = await startApp(t)
  const addresses = [
    `${'a'.repeat(64)}@${'b'.repeat(200)}.com`,
    `${'a'.repeat(10_000)}@example.com`,
    'ünïcödé@example.com',
    'ann@exämple.com',
    '😀@example.com',
    'ann@example.com\u0000',
    'ann@example.com\r\nBcc: victim@example.com',
  ]
  for (const email of addresses) {
    const res = await app.inject({ method: 'POST', url: '/signup', payload: { email } })
    t.ok([400, 413].includes(res.statusCode), `${JSON.stringify(email.slice(0, 40))}: ${res.statusCode}`)
  }
  t.equal(await countRows(app, 'users'), 0)
})

t.test('names with control characters or bidirectional controls get 400 VALIDATION; others are kept', async (t) => {
  const app = await startApp(t)
  const forged = 'Ann\r\nBcc: evil@x.com\r\n\r\nClick http://evil.example/reset'
  const refused = [
    forged,
    'Ann\u0000',
    'Ann\u0007',
    'Ann\u001b[31m',
    'Ann\u007f',
    'Ann\u0085',
    'nnA\u202e',
    'Ann\u2066x\u2069',
    'A\u2028B',
  ]
  for (const [i, name] of refused.entries()) {
    const res = await app.inject({ method: 'POST', url: '/signup', payload: { email: `r${i}@example.com`, name } })
    // Code points, not the text: a raw U+2028 or U+202E would garble the TAP stream itself.
    const shown = [...name].map((c) => (/[ -~]/.test(c) ? c : `U+${c.codePointAt(0)?.toString(16)}`)).join('')
    t.equal(res.statusCode, 400, shown)
    t.equal(res.json().code, 'VALIDATION')
  }
  t.equal(await countRows(app, 'users'), 0, 'none of them signed up')
  for (const [i, name] of ['Ann-Marie O’Brien', 'Zoë 😀', 'محمد', '李小龙', 'Family 👨‍👩‍👧'].entries()) {
    const res = await app.inject({ method: 'POST', url: '/signup', payload: { email: `k${i}@example.com`, name } })
    t.equal(res.statusCode, 201, `${name} is a name`)
  }
})

t.test('an address whose local part is over 64 characters gets 400 VALIDATION (RFC 5321)', async (t) => {
  const app = await startApp(t)
  const long = await app.inject({ method: 'POST', url: '/signup', payload: { email: `${'a'.repeat(65)}@example.com` } })
  t.equal(long.statusCode, 400)
  t.equal(long.json().code, 'VALIDATION')
  const longest = await app.inject({
    method: 'POST',
    url: '/signup',
    payload: { email: `${'a'.repeat(64)}@example.com` },
  })
  t.equal(longest.statusCode, 201, '64 is allowed')
})
