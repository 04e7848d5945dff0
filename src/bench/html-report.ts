import { type BenchReport, figureValue, phaseSummaries } from './report.ts'
import { escapeHtml, type LineChart, lineChart } from './svg-chart.ts'
import type { PhaseTimeline, TimelinePoint } from './timeline.ts'

type Field = keyof Omit<TimelinePoint, 't'>

/** The charts of one phase: throughput, latency, event loop, queue, memory. */
const CHARTS: { title: string; unit: string; fields: [Field, string][] }[] = [
  {
    title: 'Throughput',
    unit: '/s',
    fields: [
      ['signupsPerSecond', 'signups'],
      ['avatarsPerSecond', 'avatars'],
    ],
  },
  {
    title: 'Latency',
    unit: 'ms',
    fields: [
      ['signupP50Ms', 'signup p50'],
      ['signupP99Ms', 'signup p99'],
      ['avatarP50Ms', 'upload→ready p50'],
    ],
  },
  { title: 'Event-loop delay p99', unit: 'ms', fields: [['eventLoopP99Ms', 'p99 over each second']] },
  {
    title: 'Queue',
    unit: 'jobs; s',
    fields: [
      ['queued', 'jobs queued'],
      ['queueLatencySeconds', 'oldest waiting (s)'],
    ],
  },
  { title: 'RSS', unit: 'MiB', fields: [['rssMiB', 'resident']] },
]

const measured = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v)

/** A phase's charts, leaving out the lines it has nothing for (a signups phase has no avatars). */
export function phaseCharts(timeline: PhaseTimeline): LineChart[] {
  const xs = timeline.points.map((p) => p.t)
  return CHARTS.map((chart) => ({
    title: chart.title,
    unit: chart.unit,
    xs,
    series: chart.fields
      .map(([field, name]) => ({ name, values: timeline.points.map((p) => (measured(p[field]) ? p[field] : null)) }))
      .filter((s) => s.values.some((v) => v !== null && v !== 0)),
  })).filter((chart) => chart.series.length > 0)
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1200px }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem }
td, th { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top }
td.num { text-align: right; font-variant-numeric: tabular-nums }
.PASS { color: #176f2c; font-weight: bold } .MISS { color: #b3261e; font-weight: bold } .none { color: #777 }
section.phase { margin-bottom: 1.5rem } .charts { display: flex; flex-wrap: wrap; gap: 0.5rem }
svg { border: 1px solid #eee; background: #fff }
`

/**
 * The bench's report as one HTML file: the machine, the PASS/MISS table, each phase's result and its charts over
 * time. Self-contained: no script, no stylesheet, font or image from anywhere, so it opens from disk offline.
 */
export function renderHtmlReport(report: BenchReport): string {
  const machine = Object.entries(report.machine)
    .map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(String(value))}</td></tr>`)
    .join('')
  const figures = report.figures
    .map((x) => {
      const verdict = x.ok === undefined ? 'none' : x.ok ? 'PASS' : 'MISS'
      return (
        `<tr><td class="${verdict}">${verdict === 'none' ? 'not measured' : verdict}</td>` +
        `<td>${escapeHtml(x.figure)}</td><td class="num">${figureValue(x)}</td><td>${escapeHtml(x.target)}</td></tr>`
      )
    })
    .join('')
  const phases = phaseSummaries(report)
    .map(({ phase, result }) => `<tr><th>${escapeHtml(phase)}</th><td>${escapeHtml(result)}</td></tr>`)
    .join('')
  const timelines = (report.timelines ?? [])
    .map(
      (timeline) =>
        `<section class="phase"><h3>${escapeHtml(timeline.phase)}</h3><div class="charts">` +
        phaseCharts(timeline).map(lineChart).join('') +
        '</div></section>',
    )
    .join('')
  const title = `deckhand bench, ${report.date}`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<h2>Machine</h2>
<table>${machine}</table>
<h2>Figures</h2>
<table><tr><th></th><th>Figure</th><th>Value</th><th>Target</th></tr>${figures}</table>
<h2>Phases</h2>
<table>${phases}</table>
<h2>Over time</h2>
<p>One point a second. Throughput and latency as the load client saw them; event loop, queue and RSS as the
service reported them at the end of each second (phase 1 has no service: its RSS is the bench's own).</p>
${timelines}
</body>
</html>
`
}
