import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { phaseCharts, renderHtmlReport } from '../../src/bench/html-report.ts'
import { readReport } from '../../src/bench/report-files.ts'
import { launchChromium, screenshotPath } from '../helpers/browser.ts'

/*
 * The HTML report of the latest `npm run bench` (its JSON kept beside this file, the source of the README's
 * figures) opened from disk in Chromium: every chart drawn, nothing asked of any network, and the README's picture.
 */
const LATEST = new URL('latest-report.json', import.meta.url).pathname

t.test('the bench report opens from disk in a browser, charts and all, with no network', async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  const report = readReport(LATEST)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-report-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'report.html')
  fs.writeFileSync(file, renderHtmlReport(report))

  const context = await browser.newContext({ viewport: { width: 1200, height: 1500 }, offline: true })
  t.teardown(() => context.close())
  const page = await context.newPage()
  const requested: string[] = []
  page.on('request', (request) => requested.push(request.url()))
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  await page.goto(pathToFileURL(file).href)

  t.same(requested, [pathToFileURL(file).href], 'the file itself, and nothing else')
  t.same(errors, [], 'no error in the console (a CSP refusal would be one)')
  const expected = (report.timelines ?? []).reduce((n, timeline) => n + phaseCharts(timeline).length, 0)
  t.ok(expected > 0, `the latest report has charts to draw (${expected})`)
  const charts = page.locator('svg[role="img"]')
  t.equal(await charts.count(), expected, 'one chart for each measured series group of each phase')
  const drawn = await charts.evaluateAll(
    (svgs) =>
      svgs.filter((svg) => svg.getBoundingClientRect().width > 100 && svg.querySelector('polyline, circle')).length,
  )
  t.equal(drawn, expected, 'each one laid out, with its lines')
  t.equal(await page.locator('td.PASS, td.MISS, td.none').count(), report.figures.length, 'a verdict for every figure')

  const shot = screenshotPath(t, 'bench-report.png')
  // The tables and the charts of the first phases: enough to show what the report is.
  await page.screenshot({ path: shot, fullPage: true, clip: { x: 0, y: 0, width: 1200, height: 2600 } })
  t.ok(fs.statSync(shot).size > 20_000, `the screenshot written (${shot})`)
})
