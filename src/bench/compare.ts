import { type BenchReport, fixed } from './report.ts'

/** A figure of two runs side by side. */
export interface Change {
  name: string
  before: number | null
  after: number | null
  /** (after − before) ÷ |before|; NaN when either is missing or before is 0. */
  change: number
  /** worse: beyond the noise band in the wrong direction, or a target passed before and missed now. */
  verdict: 'better' | 'worse' | 'same' | 'not comparable'
  /** What the verdict rests on, for the line. */
  note: string
}

type Value = number | null | undefined

/** The phases' own figures compared beside the targets: a ratio can hold while both its halves fall. */
const VALUES: { name: string; higherIsBetter: boolean; read: (r: BenchReport) => Value }[] = [
  { name: '1 raw pipeline avatars/s', higherIsBetter: true, read: (r) => r.raw?.avatarsPerSecond },
  { name: '2 avatars over HTTP avatars/s', higherIsBetter: true, read: (r) => r.avatars?.avatarsPerSecond },
  { name: '3 bare signup route req/s', higherIsBetter: true, read: (r) => r.limit?.requestsPerSecond },
  { name: '3 signups alone req/s', higherIsBetter: true, read: (r) => r.signups?.requestsPerSecond },
  { name: '3 signups alone p99 (ms)', higherIsBetter: false, read: (r) => r.signups?.latencyP99Ms },
  { name: '4 signups under avatar load req/s', higherIsBetter: true, read: (r) => r.mixed?.signups.requestsPerSecond },
  { name: '4 signups under avatar load p99 (ms)', higherIsBetter: false, read: (r) => r.mixed?.signups.latencyP99Ms },
  { name: '4 avatars/s beside signups', higherIsBetter: true, read: (r) => r.mixed?.avatarsPerSecond },
  { name: '4 peak RSS (MiB)', higherIsBetter: false, read: (r) => r.mixed?.peakRssMiB },
  { name: '7 sustained signups/s, mail folder', higherIsBetter: true, read: (r) => r.sustained?.folder.highestRate },
  { name: '7 sustained signups/s, SMTP', higherIsBetter: true, read: (r) => r.sustained?.smtp?.highestRate },
]

const known = (v: Value): v is number => typeof v === 'number' && Number.isFinite(v)

function judge(name: string, before: Value, after: Value, higherIsBetter: boolean, noise: number): Change {
  if (!known(before) || !known(after))
    return {
      name,
      before: before ?? null,
      after: after ?? null,
      change: Number.NaN,
      verdict: 'not comparable',
      note: 'not measured in both runs',
    }
  const change = before === 0 ? Number.NaN : (after - before) / Math.abs(before)
  const gain = higherIsBetter ? change : -change
  if (!Number.isFinite(change)) return { name, before, after, change, verdict: 'not comparable', note: 'was 0' }
  if (gain < -noise) return { name, before, after, change, verdict: 'worse', note: `beyond the ±${noise * 100}% band` }
  if (gain > noise) return { name, before, after, change, verdict: 'better', note: `beyond the ±${noise * 100}% band` }
  return { name, before, after, change, verdict: 'same', note: 'within the noise band' }
}

/**
 * Each figure of two bench reports, with its change and a verdict against a noise band (a fraction: 0.2 = 20%).
 * A target's direction comes from the target itself (>= wants more, <= wants less); a target passed before and
 * missed now is worse whatever the band says.
 */
export function compareReports(before: BenchReport, after: BenchReport, noise: number): Change[] {
  const changes = before.figures.map((old) => {
    const now = after.figures.find((x) => x.figure === old.figure)
    const change = judge(old.figure, old.value, now?.value, !old.target.startsWith('<='), noise)
    if (old.ok === true && now?.ok === false)
      return { ...change, verdict: 'worse' as const, note: `PASS before, MISS now (${old.target})` }
    return change
  })
  for (const value of VALUES)
    changes.push(judge(value.name, value.read(before), value.read(after), value.higherIsBetter, noise))
  return changes
}

/** The comparison as the console shows it. */
export function changeLines(changes: readonly Change[]): string[] {
  const sign = (n: number) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${(n * 100).toFixed(0)}%` : '')
  return changes.map(
    (c) =>
      `${c.verdict.padEnd(14)} ${c.name.padEnd(56)} ${fixed(c.before, 2).padStart(9)} -> ${fixed(c.after, 2).padStart(9)} ` +
      `${sign(c.change).padStart(6)}  ${c.note}`,
  )
}
