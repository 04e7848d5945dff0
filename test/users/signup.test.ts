import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { holdStatements } from '../../src/db/sqlite-handles.ts'
import { countRows, startApp } from '../helpers/app.ts'
import { countJobs } from '../helpers/journal.ts'

t.test('a signup answers 201 with the id, a one-time token and its two mail jobs', async (t) => {
  const app = await startApp(t)
  const res = await app.inject({ method: 'POST', url: '/signup', payload: { email: 'ann@example.com', name: 'Ann' } })
  t.equal(res.statusCode, 201)
  const body = res.json()
  t.match(body.id, /^[0-9a-f-]{36}$/)
  t.equal(res.headers.location, `/users/${body.id}`)
  t.ok(body.token.startsWith(`${body.id}.`), 'the token names its user')
  t.same(body.jobs.map((j: { kind: string }) => j.kind).sort(), ['mail.admin-notice', 'mail.welcome'])

  const profile = await app.inject({ url: `/users/${body.id}` })
  t.equal(profile.statusCode, 200)
  t.same(profile.json(), { id: body.id, name: 'Ann', avatar: null }, 'the public profile shows no e-mail')
})

t.test('the user row and both jobs are in the SQLite file when the client hears 201; the token is not', async (t) => {
  const app = await startApp(t, { SMTP_URL: 'smtp://127.0.0.1:9' }) // unreachable: jobs stay unsent
  const res = await app.inject({ method: 'POST', url: '/signup', payload: { email: 'bob@example.com' } })
  const { id, token } = res.json()
  const file = path.join(app.config.dataDir, 'deckhand.db')
  const sqlite = new Database(file, { readonly: true })
  t.teardown(() => sqlite.close())
  const db = holdStatements(sqlite)
  t.equal((db.prepare('SELECT count(*) AS n FROM users WHERE id = ?').get(id) as { n: number }).n, 1)
  const kinds = db.prepare('SELECT kind FROM jobs WHERE owner_id = ? ORDER BY kind').all(id) as { kind: string }[]
  t.same(
    kinds.map((k) => k.kind),
    ['mail.admin-notice', 'mail.welcome'],
  )
  const secret = token.split('.')[1]
  const everything = [file, `${file}-wal`]
    .filter((f) => fs.existsSync(f))
    .map((f) => fs.readFileSync(f).toString('latin1'))
    .join('')
  t.notOk(everything.includes(secret), 'the secret part of the token is nowhere on disk')
})

t.test('e-mail addresses are unique case-insensitively: 409 EMAIL_TAKEN, and nothing is queued', async (t) => {
  const app = await startApp(t)
  await app.inject({ method: 'POST', url: '/signup', payload: { email: 'Carol@Example.COM' } })
  const again = await app.inject({ method: 'POST', url: '/signup', payload: { email: ' carol@example.com ' } })
  // The padded address fails the format check before it reaches the uniqueness check.
  t.equal(again.statusCode, 400)
  const dup = await app.inject({ method: 'POST', url: '/signup', payload: { email: 'carol@EXAMPLE.com' } })
  t.equal(dup.statusCode, 409)
  t.equal(dup.json().code, 'EMAIL_TAKEN')
  // Counted wherever they are: the two mails may have run and moved to jobs_done by now (a CI run met that race).
  t.equal(await countJobs(app.database.db), 2, 'only the first signup queued mail')
})

t.test('invalid signups answer 400 VALIDATION with a message naming the field', async (t) => {
  const app = await startApp(t)
  const cases: [string, unknown, RegExp][] = [
    ['missing e-mail', { name: 'x' }, /email/],
    ['not an e-mail', { email: 'not-an-address' }, /email/],
    ['a number for the e-mail', { email: 42 }, /email/],
    ['an unknown field', { email: 'd@example.com', admin: true }, /unknown field `admin`/],
    ['an empty name', { email: 'd@example.com', name: '' }, /name/],
    ['a name too long', { email: 'd@example.com', name: 'x'.repeat(101) }, /name/],
    ['an address too long', { email: `${'a'.repeat(250)}@example.com` }, /email/],
    ['an array', [{ email: 'd@example.com' }], /object/],
    ['null', null, /./],
  ]
  for (const [label, payload, field] of cases) {
    const res = await app.inject({
      method: 'POST',
      url: '/signup',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    })
    t.equal(res.statusCode, 400, label)
    t.equal(res.json().code, 'VALIDATION', label)
    t.match(res.json().message, field, label)
  }
  t.equal(await countRows(app, 'users'), 0, 'no invalid signup created a user')
})

t.test('malformed, empty, oversized and non-JSON bodies get their own codes', async (t) => {
  const app = await startApp(t, { BODY_LIMIT_BYTES: '1024' })
  const post = (payload: string, type = 'application/json') =>
    app.inject({ method: 'POST', url: '/signup', headers: { 'content-type': type }, payload })
  const malformed = await post('{"email": "e@example.com"')
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().code, 'INVALID_JSON')
  const empty = await post('')
  t.equal(empty.statusCode, 400)
  t.equal(empty.json().code, 'INVALID_JSON')
  const big = await post(JSON.stringify({ email: 'e@example.com', name: 'x'.repeat(2000) }))
  t.equal(big.statusCode, 413)
  t.equal(big.json().code, 'PAYLOAD_TOO_LARGE')
  const form = await post('email=e@example.com', 'application/x-www-form-urlencoded')
  t.equal(form.statusCode, 415)
  t.equal(form.json().code, 'UNSUPPORTED_MEDIA_TYPE')
  const proto = await post('{"email":"e@example.com","__proto__":{"x":1}}')
  t.equal(proto.statusCode, 400, 'prototype poisoning is refused')
})
