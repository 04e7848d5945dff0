import { createUsers, signupLoad } from './phases.ts'
import type { LocalService } from './service.ts'
import { type SoakSample, sampleService } from './soak-sample.ts'
import { uploadLoad } from './soak-uploads.ts'
import { slope } from './stats.ts'

export interface SoakOptions {
  minutes: number
  signupsPerSecond: number
  uploadsPerSecond: number
}

/**
 * Retention short enough to apply within the soak: a finished job goes a minute after it finished, swept every
 * 10 s, so from the second minute on the journal should hold about a minute of jobs and no more.
 */
export const soakServiceEnv = {
  JOB_RETENTION_MS: '60000',
  FAILED_JOB_RETENTION_MS: '60000',
  RETENTION_SWEEP_MS: '10000',
}

/** Users that upload avatars in turn: a handful, so each has a current avatar whose old versions must go. */
const uploaders = 8

const minute = 60_000
const sleepUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())))

/**
 * The soak: signups and the upload mix at constant rates for `minutes`, the service sampled before the load
 * and at the end of every minute.
 */
export async function soakPhase(service: LocalService, opts: SoakOptions, onSample: (s: SoakSample) => void) {
  const durationMs = opts.minutes * minute
  const users = await createUsers(service.url, uploaders, 'soak')
  const samples: SoakSample[] = []
  const take = async (m: number) => {
    const sample = await sampleService(service, m)
    samples.push(sample)
    onSample(sample)
  }
  await take(0)
  const started = Date.now()
  // Enough connections that an answer slower than the arrival interval does not hold back the rate.
  const signupOptions = { durationMs, signupConnections: 16 }
  const [signups, uploads] = await Promise.all([
    signupLoad(service.url, signupOptions, 'soak', opts.signupsPerSecond),
    uploadLoad(service.url, users, opts.uploadsPerSecond, durationMs),
    (async () => {
      for (let m = 1; m <= opts.minutes; m++) {
        await sleepUntil(started + m * minute)
        await take(m)
      }
    })(),
  ])
  return { options: opts, service: soakServiceEnv, signups, uploads, samples, ...soakVerdict(samples, opts.minutes) }
}

export type Figure = Exclude<keyof SoakSample, 'minute'>

/** The goals of issue 11 on a 10-minute soak, each the slope of one figure in units a minute. */
export const soakGoals = {
  rssMiB: { target: '< 1 MiB/min', ok: (v: number) => v < 1 },
  fds: { target: '|slope| < 0.5 fd/min', ok: (v: number) => Math.abs(v) < 0.5 },
  // Over the second half only: the first minute and a half fill the journal up to its retention.
  dbMiB: { target: '<= 0.25 MiB/min over the 2nd half', ok: (v: number) => v <= 0.25 },
}

/**
 * Slopes of every figure after warm-up (the first minute or the first fifth, whichever is longer: the service
 * loads its code, fills its caches and the journal fills up to its retention), the database's also over the
 * second half, and each goal's PASS or MISS.
 */
export function soakVerdict(samples: readonly SoakSample[], minutes: number) {
  const warmUp = Math.max(1, Math.ceil(minutes / 5))
  const trend = (from: number) => {
    const kept = samples.filter((s) => s.minute >= from)
    const xs = kept.map((s) => s.minute)
    const figures = Object.keys(samples[0] ?? {}).filter((k) => k !== 'minute') as Figure[]
    return Object.fromEntries(
      figures.map((f) => [
        f,
        slope(
          xs,
          kept.map((s) => s[f]),
        ),
      ]),
    ) as Record<Figure, number>
  }
  const slopes = trend(warmUp)
  const secondHalf = trend(minutes / 2)
  const judge = (figure: keyof typeof soakGoals, value: number) => ({
    figure,
    value,
    target: soakGoals[figure].target,
    ok: Number.isFinite(value) ? soakGoals[figure].ok(value) : undefined,
  })
  return {
    warmUpMinutes: warmUp,
    slopes,
    secondHalfSlopes: secondHalf,
    goals: [judge('rssMiB', slopes.rssMiB), judge('fds', slopes.fds), judge('dbMiB', secondHalf.dbMiB)],
  }
}
