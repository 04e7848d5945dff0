import { STATUS_CODES } from 'node:http'
import { sql } from 'kysely'
import t from 'tap'
import { signup, startApp } from '../helpers/app.ts'

t.test('every error path answers the one JSON shape {statusCode, code, error, message}', async (t) => {
  const app = await startApp(t, { BODY_LIMIT_BYTES: '512' })
  const ann = await signup(app, 'ann@example.com')
  const json = { 'content-type': 'application/json' }
  const cases = [
    { status: 404, code: 'ROUTE_NOT_FOUND', req: { url: '/no/such/route' } },
    { status: 405, code: 'METHOD_NOT_ALLOWED', req: { method: 'DELETE' as const, url: '/signup' } },
    {
      status: 400,
      code: 'INVALID_JSON',
      req: { method: 'POST' as const, url: '/signup', headers: json, payload: '{' },
    },
    { status: 400, code: 'VALIDATION', req: { method: 'POST' as const, url: '/signup', payload: { email: 'x' } } },
    {
      status: 409,
      code: 'EMAIL_TAKEN',
      req: { method: 'POST' as const, url: '/signup', payload: { email: 'ann@example.com' } },
    },
    {
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
      req: { method: 'POST' as const, url: '/signup', headers: json, payload: `{"email":"${'a'.repeat(600)}"}` },
    },
    {
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      req: { method: 'POST' as const, url: '/signup', headers: { 'content-type': 'text/plain' }, payload: 'hi' },
    },
    { status: 401, code: 'UNAUTHORIZED', req: { url: `/jobs/${ann.jobs[0]?.id}` } },
    {
      status: 404,
      code: 'JOB_NOT_FOUND',
      req: { url: `/jobs/${crypto.randomUUID()}`, headers: { authorization: `Bearer ${ann.token}` } },
    },
    { status: 404, code: 'USER_NOT_FOUND', req: { url: `/users/${crypto.randomUUID()}` } },
    { status: 400, code: 'VALIDATION', req: { url: '/users/%00' } },
  ]
  for (const { status, code, req } of cases) {
    const res = await app.inject(req)
    const label = `${req.method ?? 'GET'} ${req.url}`
    t.equal(res.statusCode, status, label)
    t.match(res.headers['content-type'], /^application\/json/, label)
    const body = res.json()
    t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], label)
    t.equal(body.statusCode, status, label)
    t.equal(body.code, code, label)
    t.equal(body.error, STATUS_CODES[status], label)
    t.ok(body.message.length > 0, label)
  }
})

t.test('an unexpected failure is a 500 INTERNAL that reveals nothing, and the service stays up', async (t) => {
  const app = await startApp(t)
  await sql`DROP TABLE users`.execute(app.database.db) // the disk "loses" a table: the next signup cannot succeed
  const res = await app.inject({ method: 'POST', url: '/signup', payload: { email: 'x@example.com' } })
  t.equal(res.statusCode, 500)
  t.same(res.json(), {
    statusCode: 500,
    code: 'INTERNAL',
    error: 'Internal Server Error',
    message: 'Internal server error',
  })
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
})
