/** `npm run bench`: what deckhand does on this machine, in nine phases, as ratios measured in one run (USAGE). */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { type ParseArgsConfig, parseArgs } from 'node:util'
import sharp from 'sharp'
import { fileCreateMicros, SETTLE_INTERVAL_MS, settleFileSystem } from './file-system-settle.ts'
import { journalSizeRun } from './journal-size.ts'
import { noisyNeighbourPhase } from './noisy-neighbour.ts'
import {
  avatarsPhase,
  type BenchOptions,
  mixedPhase,
  rawPhase,
  signupLimitPhase,
  signupsPhase,
  sustainedPhase,
} from './phases.ts'
import { postgresFrontDoorPhase } from './postgres-front-door.ts'
import { prefilledJournal } from './prefill.ts'
import { type BenchReport, figureLines, phaseLines } from './report.ts'
import { compareFiles, readReport, writeHtmlReport } from './report-files.ts'
import { scratchState } from './scratch.ts'
import {
  type BenchService,
  removeWhenRunEnds,
  serviceNodeArgs,
  setDeckhandNodeArgs,
  startBucket,
  startDeployment,
  startInlineService,
  startService,
  startSignupLimit,
  startSmtpSink,
} from './service.ts'
import { runSoak } from './soak-cli.ts'
import { type Recorder, Timelines } from './timeline.ts'

/** The options, with their defaults: parseArgs reads them, and the usage below names the same defaults. */
const OPTIONS = {
  help: { type: 'boolean', short: 'h', default: false },
  url: { type: 'string' },
  jobs: { type: 'string', default: '64' },
  duration: { type: 'string', default: '10' },
  concurrency: { type: 'string', default: '16' },
  connections: { type: 'string', default: '10' },
  json: { type: 'boolean', default: false },
  out: { type: 'string', default: 'data/bench-report.json' },
  phases: { type: 'string', default: '1,2,3,4,5,6,7,8,9' },
  'avatar-rounds': { type: 'string', default: '4' },
  flood: { type: 'string', default: '20' },
  sustain: { type: 'string', default: '20' },
  rates: { type: 'string', default: '400,600,800,1000,1200,1400,1600,1800,2000,2400,2800,3200,3600,4000,4800' },
  'sustain-smtp': { type: 'string', default: 'true' },
  redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
  postgres: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  soak: { type: 'string' },
  'soak-signups': { type: 'string', default: '100' },
  'soak-uploads': { type: 'string', default: '3' },
  html: { type: 'string' },
  from: { type: 'string' },
  compare: { type: 'string' },
  noise: { type: 'string', default: '0.2' },
  'sample-service': { type: 'string', default: 'true' },
  'journal-size': { type: 'string' },
  'journal-size-postgres': { type: 'string', default: 'true' },
  prefill: { type: 'string', default: '0' },
  'node-args': { type: 'string', default: '' },
  'settle-seconds': { type: 'string', default: '300' },
  'settle-micros': { type: 'string', default: '100' },
} as const satisfies NonNullable<ParseArgsConfig['options']>

const d = (name: keyof typeof OPTIONS) => ('default' in OPTIONS[name] ? OPTIONS[name].default : '')

const USAGE = `\`npm run bench\`: what deckhand does on this machine, in nine phases, as ratios measured in one run.
  npm run bench -- [--jobs ${d('jobs')}] [--duration ${d('duration')}] [--url http://host:port] [--json] [--out report.json]
    [--phases ${d('phases')}] [--flood ${d('flood')}] [--redis ${d('redis')}] [--postgres ${d('postgres')}]
    [--sustain ${d('sustain')}] [--rates ${d('rates')}] [--sustain-smtp ${d('sustain-smtp')}]
    [--avatar-rounds ${d('avatar-rounds')}]   phase 2's rounds, each followed by phase 1 again
    [--prefill N]   phases 3 and 4 on a journal already holding N finished mail jobs (prefill.ts)
    [--node-args="..."]   Node.js options for deckhand's processes, after npm start's (a profile: --cpu-prof --cpu-prof-dir=DIR)
    [--settle-seconds ${d('settle-seconds')}] [--settle-micros ${d('settle-micros')}]   first wait until creating a file takes at most
      that many µs (a file system still slow from files deleted in the last minutes); 0 s: measure, do not wait
  npm run bench -- --soak MINUTES [--soak-signups ${d('soak-signups')}] [--soak-uploads ${d('soak-uploads')}] [--json] [--out report.json]
  npm run bench -- … --html report.html       also writes the HTML report (charts over time, PASS/MISS, machine)
  npm run bench -- --from report.json [--html report.html]   the HTML report of an earlier run
  npm run bench -- --compare OLD.json NEW.json [--noise ${d('noise')}]  each figure's change; exit 1 when one got worse
  npm run bench -- --journal-size N [--journal-size-postgres false]  bytes a finished job, N signups' mails`

function parsedArgs() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: OPTIONS,
    })
  } catch (err) {
    // A mistyped option is the user's, not a crash: say which, and how the command reads.
    console.error(`${(err as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
}

const { values: args, positionals } = parsedArgs()
if (args.help) {
  console.log(USAGE)
  process.exit(0)
}

// Reports of earlier runs: compared, or drawn as HTML, without running anything.
if (args.compare !== undefined) {
  const newer = positionals[0]
  if (!newer) throw new Error('--compare needs two reports: --compare OLD.json NEW.json')
  process.exit(compareFiles(args.compare, newer, Number(args.noise)))
}
if (args.from !== undefined) {
  const html = args.html ?? `${args.from.replace(/\.json$/, '')}.html`
  writeHtmlReport(readReport(args.from), html)
  console.log(`HTML report written to ${html}`)
  process.exit(0)
}

// The journal's bytes a finished job, alone: no service, no load.
if (args['journal-size'] !== undefined) {
  const postgres = args['journal-size-postgres'] === 'false' ? undefined : args.postgres
  const sizes = await journalSizeRun(Number(args['journal-size']), postgres, args.redis, (line) => {
    if (!args.json) console.log(line)
  })
  if (args.json) console.log(JSON.stringify(sizes, null, 2))
  process.exit(0)
}

setDeckhandNodeArgs(args['node-args'].split(' ').filter(Boolean))

const options: BenchOptions = {
  fixture: new URL('../../fixtures/images/photo-12mp.jpg', import.meta.url).pathname,
  avatarJobs: Number(args.jobs),
  durationMs: Number(args.duration) * 1000,
  avatarConcurrency: Number(args.concurrency),
  signupConnections: Number(args.connections),
  sustainedMs: Number(args.sustain) * 1000,
}

const say = (line: string) => {
  if (!args.json) console.log(line)
}

/** Runs `fn` against a fresh service (or the one at --url), so each phase's peak RSS is its own. */
async function onService<T>(
  env: Record<string, string>,
  fn: (url: string) => Promise<T>,
  start: (env: Record<string, string>) => Promise<BenchService> = startService,
): Promise<T> {
  if (args.url) return fn(args.url)
  const service = await start(env)
  try {
    return await fn(service.url)
  } finally {
    await service.stop()
  }
}

const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.availableParallelism(),
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  sharp: sharp.versions.sharp,
  libvips: sharp.versions.vips,
  sharpConcurrency: sharp.concurrency(),
  UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '(default 4)',
  MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '(unset)',
  nodeOptions: serviceNodeArgs().join(' ') || '(none)',
}
say(`deckhand bench on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, sharp ${machine.sharp}`)
if (args.soak !== undefined) {
  await runSoak(
    {
      minutes: Number(args.soak),
      signupsPerSecond: Number(args['soak-signups']),
      uploadsPerSecond: Number(args['soak-uploads']),
    },
    machine,
    args.out,
    args.json,
  )
  // --soak runs the soak alone; the phases below are the other bench.
  process.exit(0)
}
say(`input: ${path.basename(options.fixture)}; ${options.avatarJobs} avatar jobs; signup phases ${args.duration} s`)

// The file system first: the services write their journals, uploads and mail in os.tmpdir(), where the probe writes.
const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-bench-probe-'))
removeWhenRunEnds(probeDir)
const fileSystem = await settleFileSystem({
  thresholdMicros: Number(args['settle-micros']),
  maxWaitMs: Number(args['settle-seconds']) * 1000,
  intervalMs: SETTLE_INTERVAL_MS,
  measure: () => fileCreateMicros(probeDir),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => performance.now(),
  waiting: (micros, waitedMs) =>
    say(`file system: a file created in ${micros.toFixed(0)} µs, waiting (${(waitedMs / 1000).toFixed(0)} s so far)`),
})
say(
  `file system: a file created in ${fileSystem.fileCreateMicros.toFixed(0)} µs` +
    (fileSystem.waitedMs > 0 ? ` after ${(fileSystem.waitedMs / 1000).toFixed(0)} s of waiting` : '') +
    (fileSystem.settled ? '' : `; over ${args['settle-micros']} µs: the phases that write files will read low`),
)

// Every phase keeps a point a second (throughput, latency, event loop, queue, RSS) for the HTML report.
const timelines = new Timelines({ readService: args['sample-service'] !== 'false' })
async function timed<T>(phase: string, url: string | undefined, fn: (timeline: Recorder) => Promise<T>) {
  const timeline = timelines.start(phase, url)
  try {
    return await fn(timeline)
  } finally {
    await timeline.stop()
  }
}

// Tuning runs may pick phases (--phases 3,4); a figure whose phases did not run is reported as not measured.
const chosen = new Set(args.phases.split(',').map((p) => p.trim()))
const run = <T>(phase: string, fn: () => Promise<T>) => (chosen.has(phase) ? fn() : Promise.resolve(undefined))
// Phase 2 against phase 1 in turn: raw, HTTP, raw, HTTP, … raw (--avatar-rounds 4). This machine's speed moves by
// 10–20% from one minute to the next (src/bench/RESULTS.md), so each round over HTTP is weighed against the raw
// pipeline measured right before and right after it, on one service. One round's ratio moves by ±0.05 around its
// mean: four rounds narrow the figure's spread by a third from two rounds' (RESULTS, "Phase 2 in four rounds").
const rawOnce = (label: string) => timed(label, undefined, (tl) => rawPhase(options, label, tl))
const rawRounds = (await run('1', async () => [await rawOnce('1 raw pipeline')])) ?? []
const avatarRounds =
  (await run('2', () =>
    onService({}, async (url) => {
      const rounds: Awaited<ReturnType<typeof avatarsPhase>>[] = []
      const count = Math.max(1, Math.trunc(Number(args['avatar-rounds'])) || 1)
      for (let round = 1; round <= count; round++) {
        const label = count > 1 ? `2 avatars over HTTP, round ${round}` : '2 avatars over HTTP'
        rounds.push(await timed(label, url, (tl) => avatarsPhase(url, options, label, tl, round === 1)))
        if (rawRounds.length > 0) rawRounds.push(await rawOnce(`1 raw pipeline, after round ${round}`))
      }
      return rounds
    }),
  )) ?? []
const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length
const [rawFirst] = rawRounds
const raw = rawFirst && {
  ...rawFirst,
  avatarsPerSecond: mean(rawRounds.map((r) => r.avatarsPerSecond)),
  avatarsPerSecondBefore: rawFirst.avatarsPerSecond,
  avatarsPerSecondAfter: rawRounds.length > 1 ? rawRounds.at(-1)?.avatarsPerSecond : undefined,
  avatarsPerSecondRounds: rawRounds.map((r) => r.avatarsPerSecond),
}
// Each round's ratio to the raw rounds either side of it; the figure is their mean.
const [firstRound] = avatarRounds
const avatars = firstRound && {
  ...firstRound,
  avatarsPerSecond: mean(avatarRounds.map((r) => r.avatarsPerSecond)),
  avatarsPerSecondRounds: avatarRounds.map((r) => r.avatarsPerSecond),
  ratioRounds:
    rawRounds.length > 1
      ? avatarRounds.map(
          (r, i) =>
            r.avatarsPerSecond /
            mean([rawRounds[i]?.avatarsPerSecond ?? Number.NaN, rawRounds[i + 1]?.avatarsPerSecond ?? Number.NaN]),
        )
      : undefined,
}
// --prefill N: phases 3 and 4 start on a journal that a week of retention would hold (prefill.ts); 0: empty.
const prefillJobs = Number(args.prefill)
const prefill =
  prefillJobs > 0 && !args.url && (chosen.has('3') || chosen.has('4'))
    ? await prefilledJournal(prefillJobs, say)
    : undefined
const startupMs: number[] = []
const startOn = async (env: Record<string, string>) => {
  const service = await startService(env, undefined, prefill?.file)
  startupMs.push(service.startupMs)
  return service
}

// Phase 3 against its limit, the bare route measured right before and right after it (the machine drifts).
const limitOnce = async (label: string) => {
  const bare = await startSignupLimit()
  try {
    return await timed(label, bare.url, (tl) => signupLimitPhase(bare.url, options, label, tl))
  } finally {
    await bare.stop()
  }
}
const limitBefore = args.url ? undefined : await run('3', () => limitOnce('3 limit: bare signup route'))
const signups = await run('3', () =>
  onService({}, (url) => timed('3 signups alone', url, (tl) => signupsPhase(url, options, tl)), startOn),
)
const limitAfter = limitBefore && (await limitOnce('3 limit: bare signup route, again'))
const limit = limitBefore &&
  limitAfter && {
    requestsPerSecond: (limitBefore.requestsPerSecond + limitAfter.requestsPerSecond) / 2,
    requestsPerSecondBefore: limitBefore.requestsPerSecond,
    requestsPerSecondAfter: limitAfter.requestsPerSecond,
    latencyP99Ms: Math.max(limitBefore.latencyP99Ms, limitAfter.latencyP99Ms),
  }
const mixedTimed = (label: string) => (url: string) => timed(label, url, (tl) => mixedPhase(url, options, label, tl))
const mixed = await run('4', () => onService({}, mixedTimed('4 signups + avatars (pool)'), startOn))
prefill?.remove()
const inline = args.url
  ? undefined
  : await run('5', () => onService({}, mixedTimed('5 signups + avatars (inline)'), startInlineService))

// Phase 6: the same avatar load on `deckhand api` with one, then two `deckhand worker` processes (BullMQ,
// PostgreSQL), files in one shared folder and then in a bucket (s3rver, a process of its own). Skipped, with the
// reason, where Redis or PostgreSQL does not answer.
const scaled = args.url
  ? undefined
  : await run('6', async () => {
      const out: Record<string, number | string> = {}
      for (const store of ['folder', 'bucket'] as const) {
        const bucket = store === 'bucket' ? await startBucket() : undefined
        const where = { redisUrl: args.redis, postgresUrl: args.postgres, bucketEnv: bucket?.env }
        try {
          for (const workers of [1, 2]) {
            let deployment: BenchService
            try {
              deployment = await startDeployment(workers, where)
            } catch (err) {
              out.skipped = `needs Redis (${args.redis}) and PostgreSQL (${args.postgres}): ${(err as Error).message}`
              say(`6 scale-out skipped: ${out.skipped}`)
              return out
            }
            try {
              const label = `6 avatars, ${workers} worker process(es), ${store}`
              const result = await timed(label, deployment.url, (tl) =>
                avatarsPhase(deployment.url, options, label, tl),
              )
              out[`${store}Workers${workers}AvatarsPerSecond`] = result.avatarsPerSecond
              out[`${store}Workers${workers}LatencyP50Ms`] = result.latencyP50Ms
            } finally {
              await deployment.stop()
            }
          }
        } finally {
          await bucket?.stop()
        }
      }
      return out
    })

// Phase 7: the highest constant arrival rate of signups at which mail keeps up, mail to the folder; then over
// SMTP to a real server on loopback.
const rates = args.rates.split(',').map(Number)
const sustainedOn =
  (env: Record<string, string>) =>
  <T>(fn: (url: string) => Promise<T>) =>
    onService(env, fn)
const sustained = args.url
  ? undefined
  : await run('7', async () => {
      const folder = await sustainedPhase(options, rates, sustainedOn({}), '7 sustained, mail folder', timelines)
      if (args['sustain-smtp'] !== 'true') return { folder }
      const sink = await startSmtpSink()
      try {
        const smtp = await sustainedPhase(
          options,
          rates,
          sustainedOn({ SMTP_URL: sink.url }),
          '7 sustained, SMTP',
          timelines,
        )
        return { folder, smtp }
      } finally {
        await sink.stop()
      }
    })

// Phase 8: noisy neighbour. User A floods small avatars, B uploads now and then: B's wait during the flood against
// idle, on the journal and on BullMQ (all-in-one, on a scratch PostgreSQL database and Redis prefix; skipped, with
// the reason, where they do not answer).
const noisyOptions = { floodMs: Number(args.flood) * 1000, inFlight: 2 }
// A's uploads are of one user, so with SUPERSEDE_AVATAR_UPLOADS each would call off the one before it and A would
// have no backlog for B to wait behind: the phase measures the dispatch order, so supersede is off here.
const noisyOn = (env: Record<string, string>, label: string) =>
  onService({ ...env, SUPERSEDE_AVATAR_UPLOADS: 'false' }, (url) =>
    timed(label, url, (tl) => noisyNeighbourPhase(url, noisyOptions, label, tl)),
  )
const noisy = args.url
  ? undefined
  : await run('8', async () => {
      const journal = await noisyOn({}, '8 noisy neighbour, journal')
      let scratch: Awaited<ReturnType<typeof scratchState>>
      try {
        scratch = await scratchState(args.postgres, args.redis, 'bench')
      } catch (err) {
        const skipped = `needs Redis (${args.redis}) and PostgreSQL (${args.postgres}): ${(err as Error).message}`
        say(`8 noisy neighbour on BullMQ skipped: ${skipped}`)
        return { journal, bullmq: { skipped } }
      }
      try {
        const env = {
          QUEUE: 'bullmq',
          REDIS_URL: args.redis,
          QUEUE_PREFIX: scratch.name,
          DATABASE_URL: scratch.databaseUrl,
        }
        return { journal, bullmq: await noisyOn(env, '8 noisy neighbour, BullMQ') }
      } finally {
        await scratch.drop()
      }
    })
const noisyBull = noisy && 'ratio' in noisy.bullmq ? noisy.bullmq : undefined

// Phase 9: signups on PostgreSQL, all in one process and as `deckhand api` on BullMQ, against a bare fastify + pg
// route on the same server. Skipped, with the reason, where Redis or PostgreSQL does not answer.
const onPostgres = args.url
  ? undefined
  : await run('9', () =>
      postgresFrontDoorPhase(options, { postgresUrl: args.postgres, redisUrl: args.redis, prefillJobs }, timed).catch(
        (err) => {
          const skipped = `needs Redis (${args.redis}) and PostgreSQL (${args.postgres}): ${(err as Error).message}`
          say(`9 signups on PostgreSQL skipped: ${skipped}`)
          return { skipped }
        },
      ),
    )
const pgDoor = onPostgres && 'bare' in onPostgres ? onPostgres : undefined

const nan = Number.NaN
/** A figure's target: its text in the report, and the test of a value. */
const atLeast = (bound: number) => ({ text: `>= ${bound}`, ok: (v: number) => v >= bound })
const atMost = (bound: number) => ({ text: `<= ${bound}`, ok: (v: number) => v <= bound })
const figure = (name: string, value: number, target: { text: string; ok: (v: number) => boolean }) => ({
  figure: name,
  value,
  target: target.text,
  ok: Number.isFinite(value) ? target.ok(value) : undefined,
})
const figures = [
  figure(
    'avatars over HTTP / raw pipeline',
    avatars?.ratioRounds
      ? mean(avatars.ratioRounds)
      : (avatars?.avatarsPerSecond ?? nan) / (raw?.avatarsPerSecond ?? nan),
    atLeast(0.85),
  ),
  figure(
    'signup p99 under avatar load / alone',
    (mixed?.signups.latencyP99Ms ?? nan) / (signups?.latencyP99Ms ?? nan),
    atMost(3),
  ),
  figure(
    'signup req/s under avatar load / alone',
    (mixed?.signups.requestsPerSecond ?? nan) / (signups?.requestsPerSecond ?? nan),
    atLeast(0.4),
  ),
  figure('event-loop delay p99 under load (ms, 10 ms resolution)', mixed?.eventLoopDelayP99Ms ?? nan, atMost(20)),
  figure(
    'signups/s alone / bare signup route',
    (signups?.requestsPerSecond ?? nan) / (limit?.requestsPerSecond ?? nan),
    atLeast(0.6),
  ),
  figure('sustained signups/s, mail keeping up', sustained?.folder.highestRate ?? nan, atLeast(1200)),
  figure(
    'sustained signups/s / signups alone',
    (sustained?.folder.highestRate ?? nan) / (signups?.requestsPerSecond ?? nan),
    atLeast(0.75),
  ),
  figure(
    'idle upload->ready p50 - raw single image (ms)',
    (avatars?.idleLatencyP50Ms ?? nan) - (raw?.singleMs ?? nan),
    atMost(50),
  ),
  figure('peak RSS under load (MiB)', mixed?.peakRssMiB ?? nan, atMost(400)),
  figure(
    'PostgreSQL journal signups/s / bare fastify + pg route',
    (pgDoor?.journal.requestsPerSecond ?? nan) / (pgDoor?.bare.requestsPerSecond ?? nan),
    atLeast(0.6),
  ),
  figure(
    'deckhand api (BullMQ + PostgreSQL) signups/s / bare fastify + pg route',
    (pgDoor?.api.requestsPerSecond ?? nan) / (pgDoor?.bare.requestsPerSecond ?? nan),
    atLeast(0.7),
  ),
  figure(
    'signup p99 on PostgreSQL (worse of the two) / bare fastify + pg route',
    Math.max(pgDoor?.journal.latencyP99Ms ?? nan, pgDoor?.api.latencyP99Ms ?? nan) / (pgDoor?.bare.latencyP99Ms ?? nan),
    atMost(2),
  ),
  figure("noisy neighbour: B's upload->ready in A's flood / idle (journal)", noisy?.journal.ratio ?? nan, atMost(5)),
  figure("noisy neighbour: B's upload->ready in A's flood / idle (BullMQ)", noisyBull?.ratio ?? nan, atMost(5)),
]

const report: BenchReport = {
  date: new Date().toISOString(),
  // Whether the phases ran on a settled file system: µs a file, as the mail folder's writer creates them.
  machine: {
    ...machine,
    fileCreateMicros: Math.round(fileSystem.fileCreateMicros),
    fileSystemWaitSeconds: Math.round(fileSystem.waitedMs / 1000),
  },
  options,
  raw,
  avatars,
  limit,
  signups,
  mixed,
  inline,
  scaled,
  sustained,
  noisy,
  postgres: onPostgres,
  prefill: prefill && {
    jobs: prefill.jobs,
    users: prefill.users,
    fileMiB: prefill.fileMiB,
    buildSeconds: prefill.buildSeconds,
    startupMs,
  },
  figures,
  timelines: timelines.all,
}
fs.mkdirSync(path.dirname(path.resolve(args.out)), { recursive: true })
fs.writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`)
if (args.html) writeHtmlReport(report, args.html)

if (args.json) {
  console.log(JSON.stringify(report, null, 2))
} else {
  const written = args.html ? `report written to ${args.out} and ${args.html}` : `report written to ${args.out}`
  console.log(['', ...phaseLines(report), '', ...figureLines(report), '', written].join('\n'))
}
