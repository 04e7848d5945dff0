import type { InjectOptions } from 'fastify'
import t from 'tap'
import { signup, startApp } from '../helpers/app.ts'

/*
 * Validation errors name the field and what it may hold, in words a client can act on: not Ajv's account of the
 * schema ("must match pattern", "must be equal to constant" once per allowed value). Codes and statuses are the
 * contract; these messages are what a person reads when the contract says no.
 */
t.test('a refused body, query or path names the field and what is allowed', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const cases: [string, InjectOptions, string][] = [
    ['a bad e-mail', { method: 'POST', url: '/signup', payload: { email: 'nobody' } }, '`email` must be an e-mail'],
    [
      'an unknown field',
      { method: 'POST', url: '/signup', payload: { email: 'bob@example.com', nmae: 'Bob' } },
      'unknown field `nmae` (expected email, name)',
    ],
    ['a missing field', { method: 'POST', url: '/signup', payload: { name: 'Bob' } }, '`email` is required'],
    ['a field of the wrong type', { method: 'POST', url: '/signup', payload: { email: 5 } }, '`email` must be text'],
    ['a body that is no object', { method: 'POST', url: '/signup', payload: [] }, 'the body must be a JSON object'],
    [
      'a name with a control character',
      { method: 'POST', url: '/signup', payload: { email: 'bob@example.com', name: 'Bob\u0007' } },
      '`name` must be printable text',
    ],
    [
      'a name too long',
      { method: 'POST', url: '/signup', payload: { email: 'bob@example.com', name: 'B'.repeat(101) } },
      '`name` must be at most 100 characters long',
    ],
    [
      'a size that is not offered',
      { url: `/users/${ann.id}/avatar?size=100` },
      'query parameter `size` must be one of 64, 128, 256, 512',
    ],
    ['an id that is no UUID', { url: '/users/abc' }, 'path parameter `id` must be a UUID'],
  ]
  for (const [label, request, message] of cases) {
    const res = await app.inject(request)
    t.equal(res.statusCode, 400, label)
    t.equal(res.json().code, 'VALIDATION', label)
    t.match(res.json().message, message, label)
    // Nothing of the schema's machinery leaks into the words.
    t.notMatch(res.json().message, /must match pattern|equal to constant|additional properties|\^\[/, label)
  }
})

t.test('a body of the wrong type says which type to send', async (t) => {
  const app = await startApp(t)
  const res = await app.inject({
    method: 'POST',
    url: '/signup',
    // What `curl -d` sends when told nothing else.
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'email=ann@example.com',
  })
  t.equal(res.statusCode, 415)
  t.equal(res.json().code, 'UNSUPPORTED_MEDIA_TYPE')
  t.match(res.json().message, 'Content-Type: application/json')
  t.match(res.json().message, 'application/x-www-form-urlencoded')
})

t.test('a known path asked with another method answers 405 with Allow', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  for (const [method, url, allow] of [
    ['GET', '/signup', 'POST'],
    ['DELETE', '/signup', 'POST'],
    ['POST', `/users/${ann.id}/avatar`, 'GET, HEAD, PUT'],
  ] as const) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 405, `${method} ${url}`)
    t.equal(res.headers.allow, allow, `${method} ${url}`)
    t.equal(res.json().code, 'METHOD_NOT_ALLOWED')
    t.match(res.json().message, `use ${allow}`)
  }
  // A path no route has stays a 404, and says where to start.
  const missing = await app.inject({ url: '/no/such/thing' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'ROUTE_NOT_FOUND')
  t.match(missing.json().message, 'GET /')
})

t.test('GET / answers with where to go next', async (t) => {
  const app = await startApp(t)
  const res = await app.inject({ url: '/' })
  t.equal(res.statusCode, 200)
  const { links } = res.json()
  for (const path of Object.values(links) as string[]) {
    const linked = await app.inject({ url: path })
    // Every link leads somewhere real (the docs redirect to their page; readyz may say "not ready").
    t.ok(linked.statusCode < 400 || linked.statusCode === 503, `${path} answers ${linked.statusCode}`)
  }
  t.same(Object.keys(links).sort(), ['dashboard', 'docs', 'healthz', 'metrics', 'openapi', 'readyz'])
})
