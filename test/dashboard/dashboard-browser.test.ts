import fs from 'node:fs'
import t from 'tap'
import { fixture, signup, startApp } from '../helpers/app.ts'
import { launchChromium, screenshotPath } from '../helpers/browser.ts'
import { signupLoad } from '../helpers/load.ts'
import { listen } from '../helpers/ports.ts'
import { startSmtp } from '../helpers/smtp.ts'
import { waitFor } from '../helpers/wait.ts'

/*
 * The dashboard in a real Chromium against the real service on a loopback port: log in, watch the charts move
 * under load, filter the jobs, retry a failed one, and check the page asked nothing of any other host.
 */
const ADMIN_TOKEN = 'dashboard-token-for-tests-0123456789'

t.test('the dashboard in a browser', async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  let refusing = false
  const smtp = await startSmtp({
    verdict: () =>
      refusing ? { accept: false, code: 550, message: 'no such mailbox carol@example.com' } : { accept: true },
  })
  t.teardown(() => smtp.close())
  const app = await startApp(t, { ADMIN_TOKEN, SMTP_URL: smtp.url, MAX_ATTEMPTS: '1', POOL_THREADS: '1' })
  const base = await listen(app)

  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } })
  t.teardown(() => context.close())
  const requested: string[] = []
  const cspViolations: string[] = []
  const openPage = async () => {
    const opened = await context.newPage()
    opened.on('request', (request) => requested.push(request.url()))
    opened.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text())
    })
    opened.on('pageerror', (err) => cspViolations.push(`page error: ${err.message}`))
    return opened
  }
  let page = await openPage()
  /**
   * The job detail opened just under the row clicked, and in view. Both boxes are read in one task of the page: the
   * table is drawn anew every second, and a row measured apart from the detail could be one just replaced (CI saw
   * "row ends at null"). The row is waited for, as a drawing may come between the click and the look.
   */
  const detailUnder = async (t: { ok(value: unknown, message: string): void }, id: string) => {
    // A string, as the other reads of the page here: this project's TypeScript knows no DOM.
    const read = `(() => {
      const row = document.querySelector('#job-table tbody tr[data-id="' + CSS.escape(${JSON.stringify(id)}) + '"]')
      const detail = document.getElementById('job-detail')
      if (!row || !detail) return undefined
      return { rowBottom: row.getBoundingClientRect().bottom, detailTop: detail.getBoundingClientRect().top,
        viewport: window.innerHeight }
    })()`
    const boxes = await waitFor(`the row of ${id} drawn`, () =>
      page.evaluate<{ rowBottom: number; detailTop: number; viewport: number } | undefined>(read),
    )
    t.ok(
      Math.abs(boxes.detailTop - boxes.rowBottom) < 40,
      `the detail opens under its row (row ends at ${boxes.rowBottom}, detail at ${boxes.detailTop})`,
    )
    t.ok(boxes.detailTop >= 0 && boxes.detailTop < boxes.viewport, 'the detail begins in view, where the click was')
  }
  /** Each chart's legend: label and line colour of every series drawn. */
  const legends = () =>
    page.evaluate(`Object.fromEntries([...document.querySelectorAll('.chart')].map((box) => [
      box.id.replace('chart-', ''),
      [...box.querySelectorAll('.u-legend .u-series')].map((row) => ({
        label: row.querySelector('.u-label')?.textContent ?? '',
        color: getComputedStyle(row.querySelector('.u-marker')).borderTopColor,
      })),
    ]))`) as Promise<Record<string, { label: string; color: string }[]>>

  await t.test('a wrong token gets nothing', async (t) => {
    await page.goto(`${base}/dashboard`)
    await page.fill('#token', 'not-the-admin-token-at-all')
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#login-error:not([hidden])')
    t.equal(await page.textContent('#login-error'), 'Wrong token.')
    t.same(await context.cookies(), [], 'no cookie was set')
    const jobs = await page.evaluate(async () => (await fetch('/dashboard/jobs')).status)
    t.equal(jobs, 401, 'the job list refuses a page without a session')
    const stream = await page.evaluate(async () => (await fetch('/dashboard/stream')).status)
    t.equal(stream, 401, 'the stream refuses a page without a session')
  })

  await t.test('the admin token logs in, with an HttpOnly SameSite=Strict cookie', async (t) => {
    await page.fill('#token', ADMIN_TOKEN)
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#charts .chart')
    await waitFor('the stream to be live', async () => (await page.textContent('#status')) === 'live')
    const [cookie] = await context.cookies()
    t.equal(cookie?.httpOnly, true)
    t.equal(cookie?.sameSite, 'Strict')
    t.equal(cookie?.path, '/dashboard')
    t.equal(await page.evaluate('document.cookie'), '', 'scripts cannot read the session')
    t.notMatch(cookie?.value, ADMIN_TOKEN, 'the token is not in the cookie')
  })

  await t.test('the charts move while a load runs', async (t) => {
    const chart = (id: string) => page.locator(`#chart-${id}`)
    const samplesBefore = Number(await chart('requests').getAttribute('data-samples'))
    const load = signupLoad(base, 'load', 4)
    try {
      await waitFor(
        'requests/s above 0 on the chart',
        async () => Number(await chart('requests').getAttribute('data-last')) > 0,
        20_000,
      )
      await waitFor(
        'mails sent/s above 0',
        async () => Number(await chart('mails').getAttribute('data-last')) > 0,
        20_000,
      )
    } finally {
      await load.stop()
    }
    t.ok(load.acked.length > 0, `the load signed ${load.acked.length} users up`)
    const samplesAfter = Number(await chart('requests').getAttribute('data-samples'))
    t.ok(samplesAfter > samplesBefore, `the chart gained points (${samplesBefore} → ${samplesAfter})`)
    const legend = await legends()
    const requests = (legend.requests ?? []).map((s) => s.label)
    t.ok(requests.includes('POST /signup'), `a series a route: ${requests.join(', ')}`)
    t.same(
      requests.filter((label) => label.includes('/dashboard')),
      [],
      'the page’s own polls, assets and stream are not drawn',
    )
    // What the load touches: signups, and the errors series; no series per status class.
    t.ok(requests.length <= 4, `a short legend (${requests.length} entries)`)
    t.notOk(
      requests.some((label) => / [1-5]xx$/.test(label)),
      'status classes folded',
    )
    for (const [id, series] of Object.entries(legend)) {
      const colors = series.map((s) => s.color)
      t.equal(new Set(colors).size, colors.length, `${id}: a colour of its own for each of ${colors.length} series`)
    }
    for (const id of ['loop', 'rss', 'requests', 'latency']) {
      t.equal(await chart(id).getAttribute('data-ymin'), '0', `${id}: the value axis starts at 0`)
    }
    t.ok(Number(await chart('rss').getAttribute('data-last')) > 10, 'RSS in MiB')
    t.ok(Number(await chart('loop').getAttribute('data-samples')) > 0, 'event-loop delay is drawn')
    t.ok(await page.locator('#chart-requests canvas').count(), 'uPlot drew a canvas')
  })

  await t.test('a page opened again shows the minutes before it at once, the closed time included', async (t) => {
    const samplesAtClose = Number(await page.locator('#chart-requests').getAttribute('data-samples'))
    await page.close()
    const closedAt = Date.now()
    const load = signupLoad(base, 'closed', 2)
    await new Promise((resolve) => setTimeout(resolve, 5000))
    await load.stop()
    const closedFor = (Date.now() - closedAt) / 1000
    page = await openPage()
    await page.goto(`${base}/dashboard`)
    // The first drawing is the history, before any new sample can have come.
    const requests = page.locator('#chart-requests[data-samples]')
    await requests.waitFor()
    const shown = Number(await requests.getAttribute('data-samples'))
    t.ok(
      shown >= samplesAtClose + closedFor - 2,
      `${shown} points at once: the ${samplesAtClose} seen before and the ${closedFor.toFixed(1)} s closed`,
    )
    t.ok(await page.locator('#chart-requests canvas').count(), 'drawn at once')
    t.match(
      await page.locator('#chart-requests').textContent(),
      /POST \/signup/,
      'the signups made while it was closed are on it',
    )
    await waitFor('the stream to be live', async () => (await page.textContent('#status')) === 'live')
  })

  // The load's mails go out first: refusing meanwhile would fail some of them too.
  await waitFor(
    'the load’s mails to be sent',
    async () => (await app.queue.depth()).every((d) => d.status !== 'queued' && d.status !== 'running'),
    30_000,
  )
  refusing = true
  const carol = await signup(base, 'carol@example.com')
  const welcome = carol.jobs.find((j) => j.kind === 'mail.welcome')?.id as string
  await waitFor('carol’s mails to fail', async () => {
    const jobs = await Promise.all(carol.jobs.map((j) => app.queue.get(j.id)))
    return jobs.every((j) => j?.status === 'failed')
  })

  await t.test('the job table filters by status and kind, newest first, without addresses', async (t) => {
    await page.selectOption('#filter-status', 'failed')
    await waitFor('only failed jobs listed', async () => {
      const statuses = await page.locator('#job-table tbody td.status').allTextContents()
      return statuses.length === 2 && statuses.every((s) => s === 'failed')
    })
    await page.selectOption('#filter-kind', 'mail.welcome')
    await waitFor('only the failed welcome mail listed', async () => {
      const ids = await page.locator('#job-table tbody td.id').allTextContents()
      return ids.length === 1 && ids[0] === welcome
    })
    t.pass('filtered to the one failed welcome mail')
    await page.selectOption('#filter-status', '')
    await page.selectOption('#filter-kind', '')
    await waitFor('every job listed again', async () => (await page.locator('#job-table tbody tr').count()) > 2)
    const created = await page.locator('#job-table tbody tr td:first-child').allTextContents()
    t.ok(created.length > 2)
    t.notMatch(await page.textContent('#job-table'), /@/, 'no e-mail address in the table')
  })

  await t.test('a failed job opens with its error, and its retry succeeds', async (t) => {
    await page.selectOption('#filter-status', 'failed')
    const row = page.locator(`#job-table tbody tr[data-id="${welcome}"]`)
    await row.click()
    await page.waitForSelector('#job-detail:not([hidden])')
    await detailUnder(t, welcome)
    const fields = (await page.textContent('#detail-fields')) ?? ''
    t.match(fields, /SMTP_REJECTED/)
    t.match(fields, /Attempts1/)
    t.match(fields, new RegExp(carol.id), 'the owner id')
    t.notMatch(fields, /carol@example\.com/, 'the SMTP answer’s address is not shown')
    t.ok(await page.isVisible('#retry'), 'a failed job has a retry button')
    refusing = false
    await page.click('#retry')
    await waitFor(
      'the retried job to succeed on the page',
      async () => (await page.getAttribute('#job-detail', 'data-status')) === 'succeeded',
      20_000,
    )
    t.equal((await app.queue.get(welcome))?.status, 'succeeded')
    t.notOk(await page.isVisible('#retry'), 'no retry button once it succeeded')
  })

  await t.test('the page asked nothing of any other host, and broke no CSP rule', async (t) => {
    t.ok(requested.length > 5, `${requested.length} requests seen`)
    t.same(
      requested.filter((url) => !url.startsWith(`${base}/`)),
      [],
      'every request went to the service',
    )
    t.same(cspViolations, [])
  })

  await t.test('a screenshot for the README', async (t) => {
    // A quarter of a minute of signups and avatars, so the picture shows every chart at work.
    const load = signupLoad(base, 'shot', 2)
    const photo = fs.readFileSync(fixture('photo-exif.jpg'))
    const until = Date.now() + 15_000
    try {
      while (Date.now() < until) {
        const res = await fetch(`${base}/users/${carol.id}/avatar`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${carol.token}`, 'content-type': 'image/jpeg' },
          body: photo,
        })
        if (res.status !== 202) t.fail(`avatar refused: ${res.status}`)
        await new Promise((resolve) => setTimeout(resolve, 400))
      }
    } finally {
      await load.stop()
    }
    await page.selectOption('#filter-status', '')
    await page.selectOption('#filter-kind', 'image.avatar')
    // Only avatar jobs: a listing asked for before the filter changed may still be drawn, and its rows go at the
    // next drawing.
    await waitFor('avatar jobs listed', async () => {
      const kinds = await page.locator('#job-table tbody tr td:nth-child(2)').allTextContents()
      return kinds.length > 1 && kinds.every((kind) => kind === 'image.avatar')
    })
    // The newest job's row, held by its id: the table is drawn again every second while jobs move on, and its
    // first row need not be the same job from one drawing to the next.
    const newest = await page.locator('#job-table tbody tr').first().getAttribute('data-id')
    const row = page.locator(`#job-table tbody tr[data-id="${newest}"]`)
    await row.click()
    await page.waitForSelector('#job-detail:not([hidden])')
    t.ok((await page.locator('#job-table tbody tr').count()) > 10, 'a long table')
    await detailUnder(t, newest as string)
    await page.waitForTimeout(1500)
    const shot = screenshotPath(t, 'dashboard.png')
    await page.screenshot({ path: shot, fullPage: true })
    t.ok(fs.statSync(shot).size > 20_000, `the screenshot written (${shot})`)
    t.ok(Number(await page.locator('#chart-pool').getAttribute('data-samples')) > 10, 'the pool chart has drawn')
  })

  await t.test('a chart of many series gives each a colour of its own', async (t) => {
    // More routes than the palette has colours, as a service with a wide API would have.
    for (let i = 0; i < 14; i++) app.metrics.observeRequest('GET', `/probe-${i}`, 200, 0.003)
    await waitFor('every route on the legend', async () => {
      const labels = ((await legends()).requests ?? []).map((s) => s.label)
      return labels.filter((label) => label.includes('/probe-')).length === 14
    })
    const colors = ((await legends()).requests ?? []).map((s) => s.color)
    t.ok(colors.length > 14)
    t.equal(new Set(colors).size, colors.length, `${colors.length} series, ${new Set(colors).size} colours`)
  })
})
