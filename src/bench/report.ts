import type { noisyNeighbourPhase } from './noisy-neighbour.ts'
import type { avatarsPhase, BenchOptions, mixedPhase, rawPhase, signupsPhase, sustainedPhase } from './phases.ts'
import type { PostgresFrontDoor } from './postgres-front-door.ts'
import type { PhaseTimeline } from './timeline.ts'

/** A figure of the bench with its target; `ok` unset when its phases did not run. */
export interface Figure {
  figure: string
  /** null once read back from JSON, where NaN (not measured) becomes null. */
  value: number | null
  target: string
  ok?: boolean
}

type Result<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>

/** What `npm run bench` writes to its JSON report: what the text, the HTML report and --compare read. */
export interface BenchReport {
  date: string
  machine: Record<string, string | number>
  options?: BenchOptions
  raw?: Result<typeof rawPhase> & {
    avatarsPerSecondBefore: number
    avatarsPerSecondAfter?: number
    /** Phase 1 before phase 2 and after each of its rounds (older reports: absent). */
    avatarsPerSecondRounds?: number[]
  }
  avatars?: Result<typeof avatarsPhase> & {
    avatarsPerSecondRounds?: number[]
    /** Each round ÷ the raw pipeline's rounds right before and after it. */
    ratioRounds?: number[]
  }
  limit?: {
    requestsPerSecond: number
    requestsPerSecondBefore: number
    requestsPerSecondAfter: number
    latencyP99Ms: number
  }
  signups?: Result<typeof signupsPhase>
  mixed?: Result<typeof mixedPhase>
  inline?: Result<typeof mixedPhase>
  scaled?: Record<string, number | string>
  sustained?: { folder: Result<typeof sustainedPhase>; smtp?: Result<typeof sustainedPhase> }
  /** Phase 8, on each backend; BullMQ's skipped, with the reason, where Redis or PostgreSQL did not answer. */
  noisy?: {
    journal: Result<typeof noisyNeighbourPhase>
    bullmq: Result<typeof noisyNeighbourPhase> | { skipped: string }
  }
  /** --prefill: the journal phases 3 and 4 started on, and each of their services' start-up on it. */
  prefill?: { jobs: number; users: number; fileMiB: number; buildSeconds: number; startupMs: number[] }
  /** Phase 9; skipped, with the reason, where Redis or PostgreSQL did not answer. */
  postgres?: PostgresFrontDoor | { skipped: string }
  figures: Figure[]
  timelines?: PhaseTimeline[]
}

/** A number as text; '-' for what was not measured (NaN, or null in a report read back from JSON). */
export const fixed = (n: number | null | undefined, digits = 1) =>
  typeof n === 'number' && Number.isFinite(n) ? n.toFixed(digits) : '-'

/**
 * A figure's value as text: two decimals, or as many more as it takes not to print its target's bound beside a
 * verdict the bound would contradict (0.849 against >= 0.85 is "0.849 MISS", not "0.85 MISS").
 */
export const figureValue = (x: Figure) => {
  const bound = Number(x.target.replace(/^[<>]=\s*/, ''))
  let digits = 2
  while (digits < 6 && x.ok === false && Number(fixed(x.value, digits)) === bound) digits++
  return fixed(x.value, digits)
}

/** One line per phase that ran: its name, then what it measured. */
export function phaseSummaries(report: BenchReport): { phase: string; result: string }[] {
  const { raw, avatars, limit, signups, mixed, inline, scaled, sustained, noisy } = report
  const f = fixed
  const lines: { phase: string; result: string }[] = []
  const phase = (name: string, cells: string) => lines.push({ phase: name, result: cells })
  if (raw)
    phase(
      '1 raw pipeline',
      `${f(raw.avatarsPerSecond)} avatars/s (${raw.avatarsPerSecondRounds ? `${raw.avatarsPerSecondRounds.map((r) => f(r)).join(', ')} around phase 2's rounds` : `${f(raw.avatarsPerSecondBefore)} before phase 2, ${f(raw.avatarsPerSecondAfter)} after`}); one image ${f(raw.singleMs, 0)} ms`,
    )
  if (avatars)
    phase(
      '2 avatars over HTTP',
      `${f(avatars.avatarsPerSecond)} avatars/s${avatars.ratioRounds ? ` (rounds ${avatars.avatarsPerSecondRounds?.map((r) => f(r)).join(', ')}; ÷ raw ${avatars.ratioRounds.map((r) => f(r, 2)).join(', ')})` : ''}; upload->ready p50 ${f(avatars.latencyP50Ms, 0)} ms, p99 ${f(avatars.latencyP99Ms, 0)} ms; idle p50 ${f(avatars.idleLatencyP50Ms, 0)} ms`,
    )
  if (limit)
    phase(
      '3 limit: bare signup route',
      `${f(limit.requestsPerSecond, 0)} req/s (${f(limit.requestsPerSecondBefore, 0)} before phase 3, ${f(limit.requestsPerSecondAfter, 0)} after); p99 ${f(limit.latencyP99Ms)} ms`,
    )
  if (signups)
    phase(
      '3 signups alone',
      `${f(signups.requestsPerSecond, 0)} req/s; p50 ${f(signups.latencyP50Ms)} ms, p99 ${f(signups.latencyP99Ms)} ms; event loop p99 ${f(signups.eventLoopDelayP99Ms)} ms; ` +
        `mail ${f(signups.mailsPerSecond, 0)}/s, ${f(signups.mailsWaiting, 0)} waiting, oldest ${f(signups.mailQueueLatencySeconds)} s`,
    )
  for (const [name, m] of [
    ['4 signups + avatars (pool)', mixed],
    ['5 signups + avatars (inline)', inline],
  ] as const) {
    if (!m) continue
    phase(
      name,
      `${f(m.signups.requestsPerSecond, 0)} req/s; p50 ${f(m.signups.latencyP50Ms)} ms, p99 ${f(m.signups.latencyP99Ms)} ms; ` +
        `mail ${f(m.signups.mailsPerSecond, 0)}/s, ${f(m.signups.mailsWaiting, 0)} waiting, oldest ${f(m.mailQueueLatencySeconds)} s; ` +
        `${f(m.avatarsPerSecond)} avatars/s; event loop p99 ${f(m.eventLoopDelayP99Ms)} ms (${f(m.warmUpEventLoopDelayP99Ms)} in the warm-up); peak RSS ${f(m.peakRssMiB, 0)} MiB`,
    )
  }
  if (scaled && scaled.skipped === undefined) {
    const n = (k: string) => Number(scaled[k])
    phase(
      '6 api + worker processes',
      ['folder', 'bucket']
        .map(
          (store) =>
            `${store}: 1 worker ${f(n(`${store}Workers1AvatarsPerSecond`))} avatars/s (p50 ${f(n(`${store}Workers1LatencyP50Ms`), 0)} ms), ` +
            `2 workers ${f(n(`${store}Workers2AvatarsPerSecond`))} avatars/s (p50 ${f(n(`${store}Workers2LatencyP50Ms`), 0)} ms)`,
        )
        .join('; '),
    )
  }
  for (const [name, result] of [
    ['7 sustained, mail folder', sustained?.folder],
    ['7 sustained, SMTP', sustained?.smtp],
  ] as const) {
    if (!result) continue
    phase(name, `highest rate that keeps up: ${result.highestRate}/s`)
    for (const step of result.steps)
      phase(
        `  at ${step.rate}/s`,
        `${step.ok ? 'ok  ' : 'MISS'} ${f(step.requestsPerSecond, 0)} req/s, ${step.errors} errors, p99 ${f(step.latencyP99Ms)} ms; ` +
          `mail ${f(step.mailsPerSecond, 0)}/s, ${f(step.mailsWaiting, 0)} waiting, oldest ${f(step.mailQueueLatencySeconds)} s`,
      )
  }
  for (const [name, result] of [
    ['8 noisy neighbour, journal', noisy?.journal],
    ['8 noisy neighbour, BullMQ', noisy?.bullmq],
  ] as const) {
    if (!result) continue
    if ('skipped' in result) {
      phase(name, `skipped: ${result.skipped}`)
      continue
    }
    phase(
      name,
      `B upload->ready idle p50 ${f(result.idleP50Ms, 0)} ms; in A's flood p50 ${f(result.duringP50Ms, 0)} ms, max ${f(result.duringMaxMs, 0)} ms ` +
        `(${result.samples} uploads): x${f(result.ratio)}; A's uploads ${result.floodAccepted} accepted, ${result.floodRefused} refused`,
    )
  }
  const pre = report.prefill
  if (pre)
    phase(
      '3-4 on a prefilled journal',
      `${pre.jobs} finished jobs, ${pre.users} users, ${f(pre.fileMiB, 0)} MiB (${f((pre.fileMiB * 1e6) / pre.jobs, 0)} MiB a million jobs); start-up ${pre.startupMs.map((ms) => f(ms, 0)).join(', ')} ms`,
    )
  const pg = report.postgres
  if (pg && 'skipped' in pg) phase('9 signups on PostgreSQL', `skipped: ${pg.skipped}`)
  else if (pg) {
    const load = (r: { requestsPerSecond: number; latencyP99Ms: number; errors: number }) =>
      `${f(r.requestsPerSecond, 0)} req/s (x${f(r.requestsPerSecond / pg.bare.requestsPerSecond, 2)}), p99 ${f(r.latencyP99Ms)} ms, ${r.errors} errors`
    phase(
      '9 limit: bare fastify + pg',
      `${f(pg.bare.requestsPerSecond, 0)} req/s (${f(pg.bare.requestsPerSecondBefore, 0)} before, ${f(pg.bare.requestsPerSecondAfter, 0)} after), p99 ${f(pg.bare.latencyP99Ms)} ms`,
    )
    phase('9 PostgreSQL journal', load(pg.journal))
    phase('9 api, BullMQ + PostgreSQL', load(pg.api))
    const filled = pg.prefill
    if (filled)
      phase(
        '9 on a prefilled database',
        `${filled.jobs} finished jobs, ${filled.users} users, ${f(filled.databaseMiB, 0)} MiB (${f((filled.databaseMiB * 1e6) / filled.jobs, 0)} MiB a million jobs, with the schema), filled in ${f(filled.buildSeconds, 0)} s; start-up journal ${f(filled.startupMs.journal, 0)} ms, api ${f(filled.startupMs.api, 0)} ms`,
      )
  }
  return lines
}

/** The phases as the console shows them. */
export const phaseLines = (report: BenchReport) =>
  phaseSummaries(report).map(({ phase, result }) => `${phase.padEnd(32)} ${result}`)

/** PASS, MISS, or ---- (not measured), one figure a line. */
export const figureLines = (report: BenchReport) =>
  report.figures.map(
    (x) =>
      `${x.ok === undefined ? '----' : x.ok ? 'PASS' : 'MISS'}  ${x.figure.padEnd(56)} ${figureValue(x).padStart(8)}  (${x.target})`,
  )
