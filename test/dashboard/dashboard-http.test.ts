import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import { sign, unsign } from '@fastify/cookie'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { createDashboardSessions } from '../../src/dashboard/sessions.ts'
import { signup, startApp, uploadRaw, waitForJob } from '../helpers/app.ts'
import { startSmtp } from '../helpers/smtp.ts'
import { waitFor } from '../helpers/wait.ts'

/*
 * The dashboard's HTTP side without a browser: what each page is, who gets in, the cookie's attributes, the
 * Origin check, bad input, and what the job views leave out. dashboard-browser.test.ts drives the page itself.
 */
const ADMIN_TOKEN = 'dashboard-token-for-tests-0123456789'
const ORIGIN = 'http://localhost:80'
const HOST = 'localhost:80'

/** POST /dashboard/login from the dashboard's own origin, with `token` (the right one unless said). */
async function login(app: FastifyInstance, headers: Record<string, string> = {}, token = ADMIN_TOKEN) {
  return app.inject({
    method: 'POST',
    url: '/dashboard/login',
    headers: { origin: ORIGIN, host: HOST, ...headers },
    payload: { token },
  })
}

/** A logged-in session's Cookie header. */
async function session(app: FastifyInstance): Promise<string> {
  const res = await login(app)
  const cookie = res.cookies[0]
  if (res.statusCode !== 204 || !cookie) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return `${cookie.name}=${cookie.value}`
}

t.test('with ADMIN_TOKEN unset the page says how to set it, and nothing else opens', async (t) => {
  const app = await startApp(t)
  const page = await app.inject({ url: '/dashboard' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /ADMIN_TOKEN<\/code> is not set/)
  t.match(page.body, /ADMIN_TOKEN="\$\(openssl rand -base64 24\)" npm start/)
  const refused = await login(app, {}, 'anything-at-all-0123456789')
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'DASHBOARD_OFF')
  t.equal(refused.cookies.length, 0)
  for (const url of ['/dashboard/jobs', '/dashboard/stream', `/dashboard/jobs/${crypto.randomUUID()}`]) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 403, url)
    t.equal(res.json().code, 'DASHBOARD_OFF', url)
  }
})

t.test('the pages keep a strict CSP: scripts are files of the service, none inline', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN })
  const cookie = await session(app)
  for (const headers of [{}, { cookie }]) {
    const page = await app.inject({ url: '/dashboard', headers })
    const csp = page.headers['content-security-policy'] as string
    t.match(csp, /default-src 'none'/)
    t.match(csp, /script-src 'self'(;|$)/)
    t.notMatch(csp, /unsafe-inline|unsafe-eval|\*|https?:/, 'nothing inline, no other host')
    t.equal(page.headers['cache-control'], 'no-store')
    const scripts = page.body.match(/<script[^>]*>/g) ?? []
    t.ok(scripts.length > 0)
    for (const tag of scripts) t.match(tag, /src="\/dashboard\/assets\/[a-z.]+"/, `${tag} is a file`)
    t.notMatch(page.body, /(src|href)="(https?:)?\/\//, 'no other host')
  }
  t.match((await app.inject({ url: '/dashboard' })).body, /id="login"/, 'without a session: the login form')
  t.match((await app.inject({ url: '/dashboard', headers: { cookie } })).body, /id="job-table"/, 'with one: the page')
})

t.test('the assets are served from the package and the feature, by name only', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN })
  const uplot = await app.inject({ url: '/dashboard/assets/uplot.js' })
  t.equal(uplot.statusCode, 200)
  t.match(uplot.headers['content-type'], /text\/javascript/)
  const inPackage = createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js')
  t.equal(uplot.body, fs.readFileSync(inPackage, 'utf8'), 'uPlot as its package ships it')
  t.equal((await app.inject({ url: '/dashboard/assets/dashboard.css' })).statusCode, 200)
  for (const name of ['../config.ts', 'nope.js', '..%2Fsession.ts']) {
    const res = await app.inject({ url: `/dashboard/assets/${name}` })
    t.ok(res.statusCode === 400 || res.statusCode === 404, `${name}: ${res.statusCode}`)
    t.ok(['VALIDATION', 'ROUTE_NOT_FOUND'].includes(res.json().code))
  }
})

t.test(
  'the login exchanges the token for a signed HttpOnly SameSite=Strict cookie; a wrong one gets nothing',
  async (t) => {
    const app = await startApp(t, { ADMIN_TOKEN })
    const wrong = await login(app, {}, 'dashboard-token-for-tests-0123456788')
    t.equal(wrong.statusCode, 401)
    t.equal(wrong.json().code, 'LOGIN_FAILED')
    t.equal(wrong.cookies.length, 0, 'a wrong token gets no cookie')

    const res = await login(app)
    t.equal(res.statusCode, 204)
    const setCookie = String(res.headers['set-cookie'])
    t.match(setCookie, /^deckhand_dashboard=/)
    t.match(setCookie, /; HttpOnly/)
    t.match(setCookie, /; SameSite=Strict/)
    t.match(setCookie, /; Path=\/dashboard/)
    t.match(setCookie, /; Max-Age=28800/)
    t.notMatch(setCookie, /Secure/, 'plain http: no Secure')
    t.notMatch(setCookie, ADMIN_TOKEN)
    const behindHttps = await login(app, { 'x-forwarded-proto': 'https' })
    t.match(String(behindHttps.headers['set-cookie']), /; Secure/, 'behind https: Secure')

    for (const [what, origin] of [
      ['no Origin', undefined],
      ['another site', 'https://evil.example'],
      ['another port', 'http://localhost:81'],
      ['a broken Origin', 'null'],
    ] as const) {
      const headers: Record<string, string> = { host: HOST }
      if (origin) headers.origin = origin
      const refused = await app.inject({
        method: 'POST',
        url: '/dashboard/login',
        headers,
        payload: { token: ADMIN_TOKEN },
      })
      t.equal(refused.statusCode, 403, what)
      t.equal(refused.json().code, 'CROSS_ORIGIN', what)
      t.equal(refused.cookies.length, 0, what)
    }
    for (const payload of [{}, { token: '' }, { token: ADMIN_TOKEN, extra: 1 }, { token: 'x'.repeat(2000) }]) {
      const bad = await app.inject({
        method: 'POST',
        url: '/dashboard/login',
        headers: { origin: ORIGIN, host: HOST },
        payload,
      })
      t.equal(bad.statusCode, 400)
      t.equal(bad.json().code, 'VALIDATION')
    }
    const notJson = await app.inject({
      method: 'POST',
      url: '/dashboard/login',
      headers: { origin: ORIGIN, host: HOST, 'content-type': 'application/json' },
      payload: '{token',
    })
    t.equal(notJson.statusCode, 400)
    t.equal(notJson.json().code, 'INVALID_JSON')
    const form = await app.inject({
      method: 'POST',
      url: '/dashboard/login',
      headers: { origin: ORIGIN, host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `token=${ADMIN_TOKEN}`,
    })
    t.equal(form.statusCode, 415)
  },
)

t.test('a missing, tampered, expired or foreign cookie gets nothing', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN })
  const good = await session(app)
  t.equal((await app.inject({ url: '/dashboard/jobs', headers: { cookie: good } })).statusCode, 200)
  const [name, value] = good.split('=') as [string, string]
  const flipped = `${value.slice(0, -1)}${value.endsWith('A') ? 'B' : 'A'}`
  const sessions = app.dashboardSessions
  if (!sessions) throw new Error('no sessions with ADMIN_TOKEN set')
  // Another ADMIN_TOKEN's session in the same database, as after a token change: it must not open this one.
  const foreign = createDashboardSessions(app.database, `${ADMIN_TOKEN}x`)
  const oldKey = createHash('sha256').update('deckhand dashboard session\0').update(ADMIN_TOKEN).digest('base64url')
  const cookies = {
    missing: undefined,
    tampered: `${name}=${flipped}`,
    expired: `${name}=${await sessions.start(60_000, Date.now() - 120_000)}`,
    'opened under another ADMIN_TOKEN': `${name}=${await foreign.start(60_000)}`,
    'the token itself': `${name}=${ADMIN_TOKEN}`,
    'an expiry signed as before, with a key derived from the token': `${name}=${sign(String(Date.now() + 60_000), oldKey)}`,
  }
  for (const [what, cookie] of Object.entries(cookies)) {
    const headers = cookie ? { cookie } : {}
    for (const url of ['/dashboard/jobs', `/dashboard/jobs/${crypto.randomUUID()}`, '/dashboard/stream']) {
      const res = await app.inject({ url, headers })
      t.equal(res.statusCode, 401, `${what}: ${url}`)
      t.equal(res.json().code, 'SESSION_REQUIRED', `${what}: ${url}`)
    }
    const page = await app.inject({ url: '/dashboard', headers })
    t.match(page.body, /id="login"/, `${what}: the login form`)
    t.notMatch(page.body, /job-table/, `${what}: not the dashboard`)
  }
  const out = await app.inject({
    method: 'POST',
    url: '/dashboard/logout',
    headers: { origin: ORIGIN, host: HOST, cookie: good },
  })
  t.equal(out.statusCode, 204)
  t.match(
    String(out.headers['set-cookie']),
    /deckhand_dashboard=;.*Expires=Thu, 01 Jan 1970/,
    'logout clears the cookie',
  )
})

t.test('jobs: filtered, bad input refused, retry checks Origin, and no e-mail address anywhere', async (t) => {
  let refusing = true
  const smtp = await startSmtp({
    verdict: () =>
      refusing ? { accept: false, code: 550, message: 'mailbox ann@example.com unknown' } : { accept: true },
  })
  t.teardown(() => smtp.close())
  const app = await startApp(t, { ADMIN_TOKEN, SMTP_URL: smtp.url, MAX_ATTEMPTS: '1' })
  const cookie = await session(app)
  const ann = await signup(app, 'ann@example.com')
  const welcome = ann.jobs.find((j) => j.kind === 'mail.welcome')?.id as string
  await waitFor('both mails failed', async () => {
    const jobs = await Promise.all(ann.jobs.map((j) => app.queue.get(j.id)))
    return jobs.every((j) => j?.status === 'failed')
  })
  const list = async (query: string) => app.inject({ url: `/dashboard/jobs${query}`, headers: { cookie } })

  const all = await list('')
  t.equal(all.statusCode, 200)
  t.equal(all.json().jobs.length, 2)
  const failedWelcome = await list('?status=failed&kind=mail.welcome')
  t.same(
    failedWelcome.json().jobs.map((j: { id: string }) => j.id),
    [welcome],
  )
  const job = failedWelcome.json().jobs[0]
  t.equal(job.ownerId, ann.id)
  t.equal(job.error.code, 'SMTP_REJECTED')
  t.match(job.error.detail, /\[address\]/, 'the detail is kept, its address replaced')
  t.equal((await list('?status=succeeded')).json().jobs.length, 0)
  for (const query of ['?status=lost', '?limit=0', '?limit=501', `?kind=${'k'.repeat(65)}`, '?extra=1']) {
    const res = await list(query)
    t.equal(res.statusCode, 400, query)
    t.equal(res.json().code, 'VALIDATION', query)
  }
  t.equal((await app.inject({ url: '/dashboard/jobs/not-a-uuid', headers: { cookie } })).statusCode, 400)
  const missing = await app.inject({ url: `/dashboard/jobs/${crypto.randomUUID()}`, headers: { cookie } })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'JOB_NOT_FOUND')

  const retry = (headers: Record<string, string>) =>
    app.inject({ method: 'POST', url: `/dashboard/jobs/${welcome}/retry`, headers: { cookie, host: HOST, ...headers } })
  const noOrigin = await retry({})
  t.equal(noOrigin.statusCode, 403)
  t.equal(noOrigin.json().code, 'CROSS_ORIGIN')
  const crossSite = await retry({ origin: 'https://evil.example' })
  t.equal(crossSite.statusCode, 403)
  t.equal((await app.queue.get(welcome))?.status, 'failed', 'a refused retry changed nothing')
  const noSession = await app.inject({
    method: 'POST',
    url: `/dashboard/jobs/${welcome}/retry`,
    headers: { origin: ORIGIN, host: HOST },
  })
  t.equal(noSession.statusCode, 401)

  const failedShown = (await app.inject({ url: `/dashboard/jobs/${welcome}`, headers: { cookie } })).json()
  t.equal(failedShown.retryable, true, 'a failed mail offers Retry')
  t.equal(failedShown.retryRefusal, undefined)
  refusing = false
  const ok = await retry({ origin: ORIGIN })
  t.equal(ok.statusCode, 202)
  t.equal(ok.json().status, 'queued')
  t.equal(ok.json().attempts, 0)
  const done = await waitForJob(app, ann, welcome)
  t.equal(done.status, 'succeeded')
  const again = await retry({ origin: ORIGIN })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'JOB_NOT_FAILED')

  const admin = await app.inject({
    url: `/admin/jobs?status=succeeded`,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  })
  t.match(admin.body, /ann@example\.com/, 'the admin API shows the welcome mail’s recipient in its result')
  const shown = await app.inject({ url: `/dashboard/jobs/${welcome}`, headers: { cookie } })
  t.equal(shown.json().status, 'succeeded')
  t.equal(shown.json().retryable, false, 'a job that did not fail offers no retry')
  for (const body of [shown.body, (await list('')).body]) t.notMatch(body, /@/, 'the dashboard shows no address')
})

t.test('every address signup accepts is masked, whatever characters its local part holds', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN })
  const cookie = await session(app)
  // RFC 5322's atext, which signup's `format: 'email'` accepts before the @.
  const specials = ['!', '#', '$', '%', '&', "'", '*', '+', '/', '=', '?', '^', '_', '`', '{', '|', '}', '~', '-']
  const users = []
  for (const [i, c] of specials.entries()) users.push(await signup(app, `ann${c}lee${c}${i}@example.com`))
  for (const user of users) {
    for (const job of user.jobs) t.equal((await waitForJob(app, user, job.id)).status, 'succeeded')
  }
  const admin = await app.inject({
    url: '/admin/jobs?status=succeeded&limit=500',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  })
  for (const [i, c] of specials.entries()) {
    t.ok(admin.body.includes(`ann${c}lee${c}${i}@example.com`), `${c}: the admin API shows the address`)
  }
  const listed = await app.inject({ url: '/dashboard/jobs?limit=500', headers: { cookie } })
  t.equal(listed.json().jobs.length, specials.length * 2)
  t.notMatch(listed.body, /@/, 'the dashboard shows no address')
  for (const c of specials) t.notOk(listed.body.includes(`${c}lee`), `${c}: no piece of the local part is left`)
  for (const user of users) {
    for (const job of user.jobs) {
      t.notMatch((await app.inject({ url: `/dashboard/jobs/${job.id}`, headers: { cookie } })).body, /@/)
    }
  }
})

t.test('an avatar whose upload was undecodable offers no Retry, and its retry is refused', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN, MAX_ATTEMPTS: '1' })
  const cookie = await session(app)
  const ann = await signup(app, 'ann@example.com')
  const jobId = (await uploadRaw(app, ann, 'truncated.jpg')).json().jobId as string
  t.equal((await waitForJob(app, ann, jobId)).error.code, 'IMAGE_UNDECODABLE')

  const shown = (await app.inject({ url: `/dashboard/jobs/${jobId}`, headers: { cookie } })).json()
  t.equal(shown.status, 'failed')
  t.equal(shown.retryable, false, 'the page hides Retry')
  t.match(shown.retryRefusal, /IMAGE_UNDECODABLE/)
  const retry = await app.inject({
    method: 'POST',
    url: `/dashboard/jobs/${jobId}/retry`,
    headers: { cookie, host: HOST, origin: ORIGIN },
  })
  t.equal(retry.statusCode, 409)
  t.equal(retry.json().code, 'JOB_NOT_RETRYABLE')
  t.equal((await app.queue.get(jobId))?.status, 'failed', 'left as it was')
})

t.test('logout ends the session on the server: the old cookie opens nothing, other sessions go on', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN })
  const kept = await session(app)
  const ended = await session(app)
  const jobs = (cookie: string) => app.inject({ url: '/dashboard/jobs', headers: { cookie } })
  t.equal((await jobs(ended)).statusCode, 200)
  const out = await app.inject({
    method: 'POST',
    url: '/dashboard/logout',
    headers: { origin: ORIGIN, host: HOST, cookie: ended },
  })
  t.equal(out.statusCode, 204)
  // A client that kept the cookie (a copy, a browser that ignored the clearing) sends it again.
  for (const url of ['/dashboard/jobs', `/dashboard/jobs/${crypto.randomUUID()}`, '/dashboard/stream']) {
    const res = await app.inject({ url, headers: { cookie: ended } })
    t.equal(res.statusCode, 401, url)
    t.equal(res.json().code, 'SESSION_REQUIRED', url)
  }
  t.match((await app.inject({ url: '/dashboard', headers: { cookie: ended } })).body, /id="login"/)
  t.equal((await jobs(kept)).statusCode, 200, 'another session is not ended by it')
})

t.test('the cookie is a random session id: nothing in it comes from ADMIN_TOKEN', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN })
  const values = [await session(app), await session(app)].map((c) => c.split('=')[1] as string)
  for (const value of values) t.match(value, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url, unsigned')
  t.not(values[0], values[1], 'two logins, two unrelated cookies')
  const oldKey = createHash('sha256').update('deckhand dashboard session\0').update(ADMIN_TOKEN).digest('base64url')
  for (const key of [oldKey, createHash('sha256').update(ADMIN_TOKEN).digest('base64url'), ADMIN_TOKEN]) {
    t.notOk(unsign(values[0] as string, key).valid, 'no signature under a key derived from the token')
  }
  const rows = await app.database.db.selectFrom('dashboard_sessions').selectAll().execute()
  t.equal(rows.length, 2)
  const stored = JSON.stringify(rows)
  for (const value of values) t.notOk(stored.includes(value), 'the database keeps no session id, only its hash')
  t.notOk(stored.includes(ADMIN_TOKEN), 'nor the token')
})

t.test('wrong logins from one address: 429 AUTH_FAILURES with Retry-After, even for the right token', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN, ADMIN_AUTH_FAILURES_MAX: '5', ADMIN_AUTH_FAILURES_WINDOW_MS: '5000' })
  const wrong = `${ADMIN_TOKEN}-wrong`
  // Good logins are not counted: they come before, between and do not use up the budget.
  for (let i = 0; i < 3; i++) t.equal((await login(app)).statusCode, 204, 'a good login is never slowed')
  for (let i = 0; i < 5; i++) {
    const res = await login(app, {}, wrong)
    t.equal(res.statusCode, 401, `wrong login ${i + 1}`)
    t.equal(res.json().code, 'LOGIN_FAILED')
  }
  for (const token of [wrong, ADMIN_TOKEN]) {
    const refused = await login(app, {}, token)
    t.equal(refused.statusCode, 429, token === wrong ? 'the sixth wrong one' : 'the right one too, while blocked')
    t.equal(refused.json().code, 'AUTH_FAILURES')
    const retryAfter = Number(refused.headers['retry-after'])
    t.ok(retryAfter >= 1 && retryAfter <= 5, `Retry-After: ${retryAfter}`)
    t.equal(refused.cookies.length, 0, 'no cookie')
  }
  const refused = await login(app, {}, ADMIN_TOKEN)
  const reopens = Date.now() + Number(refused.headers['retry-after']) * 1000
  const elsewhere = await app.inject({
    method: 'POST',
    url: '/dashboard/login',
    headers: { origin: ORIGIN, host: HOST },
    payload: { token: ADMIN_TOKEN },
    remoteAddress: '192.0.2.7',
  })
  t.equal(elsewhere.statusCode, 204, 'another address is not blocked')
  // After the window, the right token logs in again.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, reopens + 100 - Date.now())))
  t.equal((await login(app)).statusCode, 204, 'after the window')
})
