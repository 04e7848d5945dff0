import { execFile } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { compareReports } from '../../src/bench/compare.ts'
import { renderHtmlReport } from '../../src/bench/html-report.ts'
import { type BenchReport, type Figure, figureLines, phaseLines } from '../../src/bench/report.ts'
import { lineChart, niceCeiling } from '../../src/bench/svg-chart.ts'
import { type TimelinePoint, Timelines } from '../../src/bench/timeline.ts'
import { signup, startApp } from '../helpers/app.ts'

const run = promisify(execFile)
const root = path.resolve(import.meta.dirname, '../..')

const figure = (name: string, value: number | null, target: string, ok?: boolean): Figure => ({
  figure: name,
  value,
  target,
  ok,
})
const report = (figures: Figure[], extra: Partial<BenchReport> = {}): BenchReport => ({
  date: '2026-11-29T06:00:00.000Z',
  machine: { cpu: 'test <cpu>', cores: 2 },
  figures,
  ...extra,
})

const point = (t: number, over: Partial<TimelinePoint> = {}): TimelinePoint => ({
  t,
  signupsPerSecond: 1000 + t,
  signupP50Ms: 3,
  signupP99Ms: 12,
  avatarsPerSecond: 0,
  avatarP50Ms: Number.NaN,
  eventLoopP99Ms: 15,
  queued: 10 * t,
  queueLatencySeconds: 0.5,
  rssMiB: 200,
  ...over,
})

t.test('compareReports judges each figure against the noise band, in the direction of its target', async (t) => {
  const before = report(
    [
      figure('ratio up is good', 0.5, '>= 0.4', true),
      figure('p99 down is good', 20, '<= 30', true),
      figure('steady', 1.0, '>= 0.5', true),
      figure('crossed its target', 0.51, '>= 0.5', true),
      figure('not measured before', null, '>= 1'),
    ],
    { signups: { requestsPerSecond: 1000 } as BenchReport['signups'] },
  )
  const after = report(
    [
      figure('ratio up is good', 0.3, '>= 0.4', false),
      figure('p99 down is good', 12, '<= 30', true),
      figure('steady', 1.1, '>= 0.5', true),
      figure('crossed its target', 0.49, '>= 0.5', false),
      figure('not measured before', 2, '>= 1', true),
    ],
    { signups: { requestsPerSecond: 1300 } as BenchReport['signups'] },
  )
  const changes = Object.fromEntries(compareReports(before, after, 0.2).map((c) => [c.name, c]))
  t.equal(changes['ratio up is good']?.verdict, 'worse', 'a >= figure that fell 40%')
  t.equal(changes['ratio up is good']?.change, -0.4)
  t.equal(changes['p99 down is good']?.verdict, 'better', 'a <= figure that fell 40%')
  t.equal(changes.steady?.verdict, 'same', '+10% is inside a 20% band')
  t.equal(changes['crossed its target']?.verdict, 'worse', 'PASS to MISS is worse, even inside the band')
  t.match(changes['crossed its target']?.note, /PASS before, MISS now/)
  t.equal(changes['not measured before']?.verdict, 'not comparable')
  t.equal(changes['3 signups alone req/s']?.verdict, 'better', "the phases' own figures are compared too")
  t.equal(changes['2 avatars over HTTP avatars/s']?.verdict, 'not comparable', 'a phase neither run had')

  const tighter = Object.fromEntries(compareReports(before, after, 0.05).map((c) => [c.name, c]))
  t.equal(tighter.steady?.verdict, 'better', 'the band is the caller’s: +10% is beyond 5%')
})

t.test('the HTML report stands alone: machine, figures, phases and a chart per measured series', async (t) => {
  const html = renderHtmlReport(
    report([figure('signups/s alone / bare signup route', 0.59, '>= 0.5', true), figure('rss', 430, '<= 400', false)], {
      timelines: [
        {
          phase: '3 signups <alone>',
          points: [point(1), point(2), point(3, { eventLoopP99Ms: Number.NaN }), point(4)],
        },
      ],
    }),
  )
  t.match(html, /<td class="PASS">PASS<\/td><td>signups\/s alone \/ bare signup route<\/td><td class="num">0.59<\/td>/)
  t.match(html, /<td class="MISS">MISS<\/td><td>rss<\/td>/)
  t.match(html, /test &lt;cpu&gt;/, 'text from the report is escaped')
  t.match(html, /<h3>3 signups &lt;alone&gt;<\/h3>/)
  t.notMatch(html, /<script/i, 'no script')
  t.notMatch(html, /\b(src|href)=/i, 'nothing loaded from anywhere')
  t.notMatch(html, /url\(/i, 'no stylesheet reference either')
  t.match(html, /default-src 'none'/, 'and a CSP that would refuse it')
  const charts = html.match(/<svg /g) ?? []
  // Throughput, latency, event loop, queue, RSS; no avatar line (all zero or unmeasured) in any of them.
  t.equal(charts.length, 5)
  t.notMatch(html, /upload→ready/, 'a series with nothing measured is left out')
  // The event loop's unmeasured third second breaks its line in two.
  const loop = html.slice(html.indexOf('aria-label="Event-loop delay p99"'))
  const loopChart = loop.slice(0, loop.indexOf('</svg>'))
  t.equal((loopChart.match(/<polyline/g) ?? []).length, 1, 'seconds 1–2 as a line')
  t.equal((loopChart.match(/<circle/g) ?? []).length, 1, 'second 4 alone as a dot')
})

t.test('lineChart scales to a round ceiling and draws each series', async (t) => {
  t.equal(niceCeiling(0), 1)
  t.equal(niceCeiling(7), 10)
  t.equal(niceCeiling(1300), 2000)
  t.equal(niceCeiling(0.3), 0.5)
  const svg = lineChart({
    title: 'T',
    unit: '/s',
    xs: [1, 2],
    series: [
      { name: 'a', values: [1, 2] },
      { name: 'b', values: [2, 1] },
    ],
  })
  t.equal((svg.match(/<polyline/g) ?? []).length, 2)
  t.match(svg, />2</, 'the y axis ends at the largest value, rounded')
})

t.test('a timeline reads the service every second without cutting the interval of a full scrape', async (t) => {
  const app = await startApp(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const url = `http://127.0.0.1:${port}`
  await app.inject({ url: '/metrics' })
  const timelines = new Timelines()
  const timeline = timelines.start('test phase', url)
  for (let i = 0; i < 5; i++) {
    const started = performance.now()
    await signup(url, `timeline-${i}@example.com`)
    timeline.signup(performance.now() - started)
  }
  const blockedUntil = performance.now() + 120
  while (performance.now() < blockedUntil); // the loop held for 120 ms
  await new Promise((resolve) => setTimeout(resolve, 2300))
  const result = await timeline.stop()
  t.same(timelines.all, [result])
  t.ok(result.points.length >= 2 && result.points.length <= 3, `a point a second (${result.points.length})`)
  t.same(
    result.points.map((p) => p.t),
    result.points.map((_, i) => i + 1),
  )
  t.equal(
    result.points.reduce((n, p) => n + p.signupsPerSecond, 0),
    5,
    'every signup counted once',
  )
  for (const p of result.points) {
    t.ok(p.rssMiB > 10, `the service's RSS (${p.rssMiB.toFixed(0)} MiB)`)
    t.ok(Number.isFinite(p.eventLoopP99Ms) && Number.isFinite(p.queued), 'event loop and queue read')
  }
  const full = await app.inject({ url: '/metrics' })
  const max = Number(full.body.match(/^nodejs_eventloop_lag_max_seconds (\S+)$/m)?.[1]) * 1000
  t.ok(max >= 100, `the full scrape still saw the 120 ms block (max ${max.toFixed(0)} ms)`)

  const bare = new Timelines().start('no service here', 'http://127.0.0.1:9')
  await new Promise((resolve) => setTimeout(resolve, 1200))
  const unreachable = await bare.stop()
  t.ok(Number.isNaN(unreachable.points[0]?.rssMiB), 'a service that does not answer leaves its figures unknown')
})

t.test(
  "--sample-service false: the timeline keeps the load client's figures and asks the service nothing",
  async (t) => {
    const asked: string[] = []
    const server = http.createServer((req, res) => {
      asked.push(req.url ?? '')
      res.end('deckhand_jobs{kind="mail.welcome",status="queued"} 3\n')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => server.close())
    const { port } = server.address() as { port: number }
    const url = `http://127.0.0.1:${port}`
    for (const readService of [true, false]) {
      asked.length = 0
      const timeline = new Timelines({ readService }).start('test phase', url)
      timeline.signup(4)
      await new Promise((resolve) => setTimeout(resolve, 1200))
      const { points } = await timeline.stop()
      t.equal(points[0]?.signupsPerSecond, 1, `readService ${readService}: the client's signup counted`)
      if (readService) t.ok(asked.length > 0 && points[0]?.queued === 3, 'read: the service was asked each second')
      else t.ok(asked.length === 0 && Number.isNaN(points[0]?.queued), 'not read: no request, its figures unknown')
    }
  },
)

t.test('npm run bench -- --from / --compare: the HTML of a saved report, and exit 1 on a regression', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-bench-report-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const older = path.join(dir, 'old.json')
  const newer = path.join(dir, 'new.json')
  fs.writeFileSync(older, JSON.stringify(report([figure('signups/s alone / bare signup route', 0.6, '>= 0.5', true)])))
  fs.writeFileSync(newer, JSON.stringify(report([figure('signups/s alone / bare signup route', 0.4, '>= 0.5', false)])))
  const cli = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'src/bench/cli.ts', ...args], { cwd: root })

  await cli('--from', newer, '--html', path.join(dir, 'new.html'))
  t.match(fs.readFileSync(path.join(dir, 'new.html'), 'utf8'), /<td class="MISS">MISS<\/td>/)

  const same = await cli('--compare', older, older)
  t.match(same.stdout, /no figure got worse/)
  const worse = await cli('--compare', older, newer).then(
    () => undefined,
    (err: { code: number; stdout: string }) => err,
  )
  t.equal(worse?.code, 1, 'a regression fails the command')
  t.match(worse?.stdout, /worse +signups\/s alone \/ bare signup route +0\.60 -> +0\.40 +-33%/)

  fs.writeFileSync(path.join(dir, 'other.json'), '{"hello": 1}')
  const wrong = await cli('--compare', older, path.join(dir, 'other.json')).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  )
  t.ok(wrong && wrong.code !== 0)
  t.match(wrong?.stderr, /is not a report of npm run bench/)
})

t.test('npm run bench -- --help prints how it reads; a mistyped option says which, with no stack', async (t) => {
  const cli = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'src/bench/cli.ts', ...args], { cwd: root })
  const help = await cli('--help')
  t.match(help.stdout, /npm run bench -- \[--jobs 64\]/)
  t.match(help.stdout, /--compare OLD\.json NEW\.json/)
  const typo = await cli('--phase', '3').then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  )
  t.equal(typo?.code, 2, 'a usage error exits 2, before anything starts')
  t.match(typo?.stderr, /Unknown option '--phase'/)
  t.match(typo?.stderr, /npm run bench -- \[--jobs 64\]/)
  t.notMatch(typo?.stderr, /at parseArgs|node:internal/, 'no stack trace')
})

t.test('phase 8, noisy neighbour: a line per backend, a skipped one with its reason, and its figures', async (t) => {
  const journal = {
    floodAccepted: 128,
    floodRefused: 217,
    idleP50Ms: 741,
    duringP50Ms: 1776,
    duringMaxMs: 2387,
    samples: 7,
    ratio: 1776 / 741,
  }
  const noisy = report(
    [
      figure("noisy neighbour: B's upload->ready in A's flood / idle (journal)", journal.ratio, '<= 5', true),
      figure("noisy neighbour: B's upload->ready in A's flood / idle (BullMQ)", null, '<= 5'),
    ],
    { noisy: { journal, bullmq: { skipped: 'needs Redis' } } },
  )
  const lines = phaseLines(noisy)
  t.match(
    lines[0],
    /^8 noisy neighbour, journal +B upload->ready idle p50 741 ms; in A's flood p50 1776 ms, max 2387 ms/,
  )
  t.match(lines[0], /x2\.4; A's uploads 128 accepted, 217 refused/)
  t.match(lines[1], /^8 noisy neighbour, BullMQ +skipped: needs Redis/)
  t.match(figureLines(noisy), [/^PASS .*\(journal\) +2\.40 +\(<= 5\)/, /^---- .*\(BullMQ\) +- +\(<= 5\)/])
  const html = renderHtmlReport(noisy)
  t.match(html, /8 noisy neighbour, journal/, 'in the HTML report too')
})

t.test("a figure's value is never printed as its bound beside a verdict the bound contradicts", async (t) => {
  const lines = figureLines(
    report([
      figure('just short', 0.8472, '>= 0.85', false),
      figure('just over', 20.004, '<= 20', false),
      figure('met', 0.8512, '>= 0.85', true),
      figure('on the bound', 20, '<= 20', true),
    ]),
  )
  t.match(lines, [
    /^MISS .* 0\.847 +\(>= 0\.85\)/,
    /^MISS .* 20\.004 +\(<= 20\)/,
    /^PASS .* 0\.85 +\(>= 0\.85\)/,
    /^PASS .* 20\.00 +\(<= 20\)/,
  ])
})
