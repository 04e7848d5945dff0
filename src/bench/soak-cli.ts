/**
 * `npm run bench -- --soak MINUTES`: the soak on a service of its own, a table line a minute, the slopes and
 * goals at the end, all of it into the JSON report.
 */
import fs from 'node:fs'
import path from 'node:path'
import { startService } from './service.ts'
import { type Figure, type SoakOptions, soakPhase, soakServiceEnv } from './soak.ts'
import type { SoakSample } from './soak-sample.ts'

/**
 * The per-minute table's columns: the sample's own names, as in the JSON report, in its order. The service's
 * own RSS figure stays in the report only: it matches /proc's to within the moment between the two reads.
 */
const columns = (sample: SoakSample) =>
  Object.keys(sample).filter((k) => k !== 'minute' && k !== 'rssMetricMiB') as Figure[]

/** Sizes and delays to a tenth, counts whole; slopes one digit finer. */
const digits = (f: Figure) => (f.endsWith('MiB') || f.endsWith('Ms') ? 1 : 0)

const width = 14
const line = (cells: string[]) => cells.map((c) => c.padStart(width)).join(' ')
const cell = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '-')

const soakHeader = (s: SoakSample) => line(['minute', ...columns(s)])

const soakRow = (s: SoakSample) => line([String(s.minute), ...columns(s).map((f) => cell(s[f], digits(f)))])

/** The slopes as one more row of the table, a minute being the unit. */
const slopeRow = (label: string, s: SoakSample, slopes: Record<Figure, number>) =>
  line([label, ...columns(s).map((f) => cell(slopes[f], digits(f) + 1))])

export async function runSoak(opts: SoakOptions, machine: object, out: string, json: boolean) {
  for (const [option, value] of [
    ['--soak', opts.minutes],
    ['--soak-signups', opts.signupsPerSecond],
    ['--soak-uploads', opts.uploadsPerSecond],
  ] as const) {
    // autocannon takes whole rates of at least one a second; a soak needs at least two samples to have a slope.
    if (!Number.isInteger(value) || value < (option === '--soak' ? 2 : 1))
      throw new Error(
        `Expected a whole number of at least ${option === '--soak' ? 2 : 1} for ${option} but received ${value}`,
      )
  }
  const say = (line: string) => {
    if (!json) console.log(line)
  }
  say(
    `soak: ${opts.minutes} min, ${opts.signupsPerSecond} signups/s, ${opts.uploadsPerSecond} uploads/s (about a fifth bad); ` +
      `retention ${Number(soakServiceEnv.JOB_RETENTION_MS) / 1000} s, swept every ${Number(soakServiceEnv.RETENTION_SWEEP_MS) / 1000} s`,
  )
  const service = await startService(soakServiceEnv)
  let result: Awaited<ReturnType<typeof soakPhase>>
  try {
    result = await soakPhase(service, opts, (s) => {
      if (s.minute === 0) say(soakHeader(s))
      say(soakRow(s))
    })
  } finally {
    await service.stop()
  }
  const report = { date: new Date().toISOString(), machine, soak: result }
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true })
  fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`)
  if (json) {
    console.log(JSON.stringify(report, null, 2))
    return
  }
  const first = result.samples[0] as SoakSample
  say(slopeRow(`slope ≥${result.warmUpMinutes}`, first, result.slopes))
  say(slopeRow(`slope ≥${opts.minutes / 2}`, first, result.secondHalfSlopes))
  const { signups, uploads } = result
  say(
    `\nsignups: ${signups.requests} answered 2xx (${signups.requestsPerSecond.toFixed(1)}/s), ${signups.errors} not; ` +
      `p50 ${signups.latencyP50Ms} ms, p99 ${signups.latencyP99Ms} ms`,
  )
  say(
    `uploads: ${Object.entries(uploads.answers)
      .map(([status, n]) => `${n} × ${status}`)
      .join(', ')}; ${uploads.cutShort} cut short; ${uploads.errors} errors, ${uploads.timeouts} timeouts\n`,
  )
  for (const g of result.goals)
    say(
      `${g.ok === undefined ? '----' : g.ok ? 'PASS' : 'MISS'}  ${`${g.figure} slope`.padEnd(20)} ${cell(g.value, 3).padStart(8)}  (${g.target})`,
    )
  say(`\nreport written to ${out}`)
}
