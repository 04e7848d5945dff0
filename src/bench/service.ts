import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { scratchState } from './scratch.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

export interface BenchService {
  url: string
  stop(): Promise<void>
}

/** A service the bench started itself: the soak reads its process and its files, not only its HTTP answers. */
export interface LocalService extends BenchService {
  pid: number
  dataDir: string
  /** From the spawn to the first ready answer. */
  startupMs: number
}

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * The Node.js options `npm start` runs deckhand with (package.json's `config.nodeOptions`): the bench runs deckhand,
 * and the bare routes it is compared with, under the same.
 */
export const startNodeArgs: readonly string[] = (
  JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).config?.nodeOptions ?? ''
)
  .split(' ')
  .filter(Boolean)

/**
 * Node.js options for deckhand's own processes: npm start's, then `--node-args` (a CPU or heap profile of the service
 * under a phase; of an option given twice, Node takes the last).
 */
let extraNodeArgs: string[] = []
export function setDeckhandNodeArgs(args: string[]): void {
  extraNodeArgs = args
}
export const serviceNodeArgs = (): string[] => [...startNodeArgs, ...extraNodeArgs]

/**
 * The DATA_DIRs of stopped services, removed when the run ends (removeDataDirs), not at each stop: deleting a
 * service's tens of thousands of mail files left this machine's ext4 creating files ten times slower (35 against
 * 450 µs a file) for a minute or more, and the next phase's mail folder writer, at two thirds of a core in the
 * kernel, held its mail lane to half the rate (src/bench/RESULTS.md).
 */
const stoppedDataDirs: string[] = []

/** `dir` removed with the DATA_DIRs, when the run ends (the file system probe's, file-system-settle.ts). */
export function removeWhenRunEnds(dir: string): void {
  stoppedDataDirs.push(dir)
}

/** Removes the DATA_DIRs of the services stopped so far: at the end of a run, once nothing is measured. */
export function removeDataDirs(): void {
  for (const dir of stoppedDataDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
}

// However the run ends (its report written, or an error), on its way out.
process.once('exit', removeDataDirs)

/** deckhand in a process of its own, on a fresh temporary DATA_DIR, removed at the end of the run. */
function spawnDeckhand(role: 'all' | 'api' | 'worker', env: Record<string, string>, journal?: string) {
  return spawnScript('src/server.ts', role === 'all' ? [] : [role], env, role === 'worker', journal, serviceNodeArgs())
}

/**
 * An entry point of this package (named by its source, `src/server.ts`) in a process of its own, on a fresh
 * temporary DATA_DIR. It runs compiled, from dist/, as `npm start` runs deckhand (`npm run bench` builds first):
 * not through tsx, whose loader would cost the service 130 MiB and differ from what a user runs.
 */
function spawnScript(
  script: string,
  scriptArgs: string[],
  env: Record<string, string>,
  pipeStdout = false,
  journal?: string,
  nodeArgs: string[] = [],
) {
  const compiled = path.join(root, 'dist', script.replace(/\.ts$/, '.js'))
  if (!fs.existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npm run build\` first`)
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-bench-'))
  // A journal made beforehand (--prefill): the service starts on it as on its own.
  if (journal) fs.copyFileSync(journal, path.join(dataDir, 'deckhand.db'))
  const spawnedAt = performance.now()
  const args = [...nodeArgs, compiled, ...scriptArgs]
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, DATA_DIR: dataDir, ...env },
    // A worker says it is ready in its log; the others answer /readyz.
    stdio: ['ignore', pipeStdout ? 'pipe' : 'ignore', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    child,
    exited,
    dataDir,
    spawnedAt,
    async stop() {
      child.kill('SIGTERM')
      await exited
      stoppedDataDirs.push(dataDir)
    },
  }
}

/**
 * Starts deckhand as its own process, as `npm start` would, and waits until /readyz answers. Logs stay at warn:
 * a benchmark measures the service, not its request log. Rate limits are off: a load tester is one address by
 * nature.
 */
export async function startService(
  env: Record<string, string> = {},
  role?: 'api',
  journal?: string,
): Promise<LocalService> {
  const port = await freePort()
  return untilReady(spawnDeckhand(role ?? 'all', serviceEnv(port, env), journal), port)
}

/** As startService, but every image task runs on the service's main thread (inline-service.ts): phase 5. */
export async function startInlineService(env: Record<string, string> = {}): Promise<LocalService> {
  const port = await freePort()
  return untilReady(
    spawnScript('src/bench/inline-service.ts', [], serviceEnv(port, env), false, undefined, serviceNodeArgs()),
    port,
  )
}

const serviceEnv = (port: number, env: Record<string, string>) => ({
  PORT: String(port),
  LOG_LEVEL: 'warn',
  SIGNUP_RATE_MAX: '0',
  UPLOAD_RATE_MAX: '0',
  MAX_UPLOADS_IN_FLIGHT_PER_IP: '0',
  ...env,
})

/** The bare signup route of src/bench/signup-limit.ts, the limit phase 3 is compared with. */
export async function startSignupLimit(
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<LocalService> {
  const port = await freePort()
  return untilReady(
    spawnScript('src/bench/signup-limit.ts', [], { PORT: String(port), ...env }, false, undefined, [
      ...startNodeArgs,
      ...nodeArgs,
    ]),
    port,
  )
}

/** Waits until the process answers /readyz on `port`. */
async function untilReady(service: ReturnType<typeof spawnScript>, port: number): Promise<LocalService> {
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    const { exitCode, signalCode } = service.child
    // A process that aborts (SIGABRT) has no exit code, only its signal.
    if (exitCode !== null || signalCode !== null) {
      throw new Error(`the service exited (${signalCode ?? `code ${exitCode}`}) during start-up`)
    }
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    )
    if (ready) break
    if (Date.now() > deadline) {
      service.child.kill('SIGKILL')
      throw new Error('the service did not become ready within 30 s')
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    url,
    stop: service.stop,
    pid: service.child.pid as number,
    dataDir: service.dataDir,
    startupMs: performance.now() - service.spawnedAt,
  }
}

/** A worker process (`deckhand worker`); ready once it logs that it runs jobs. */
function startWorker(env: Record<string, string>): BenchService & { ready: Promise<void> } {
  // A worker listens too (health and metrics): on a port of its own, as several run on this one machine.
  const worker = spawnDeckhand('worker', { LOG_LEVEL: 'info', PORT: '0', ...env })
  const ready = new Promise<void>((resolve, reject) => {
    worker.child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('worker running jobs')) resolve()
    })
    worker.exited.then(() => reject(new Error('a worker exited during start-up')))
  })
  return { url: '', ready, stop: worker.stop }
}

export interface Deployment {
  redisUrl: string
  postgresUrl: string
  /** Where files go: a bucket's settings (startBucket), or unset for one folder every process shares. */
  bucketEnv?: Record<string, string>
}

/**
 * `deckhand api` plus `workers` × `deckhand worker`, as a scaled-out deployment on this one machine: a fresh
 * PostgreSQL database and Redis prefix, a shared STORAGE_DIR or a bucket; all of it removed by stop().
 */
export async function startDeployment(workers: number, where: Deployment): Promise<BenchService> {
  const scratch = await scratchState(where.postgresUrl, where.redisUrl, 'bench')
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-bench-shared-'))
  const env = {
    QUEUE: 'bullmq',
    REDIS_URL: where.redisUrl,
    QUEUE_PREFIX: scratch.name,
    DATABASE_URL: scratch.databaseUrl,
    ...(where.bucketEnv ?? { STORAGE_DIR: storage }),
  }
  const api = await startService(env, 'api')
  const pool = Array.from({ length: workers }, () => startWorker(env))
  await Promise.all(pool.map((w) => w.ready))
  return {
    url: api.url,
    async stop() {
      await Promise.all([api.stop(), ...pool.map((w) => w.stop())])
      await scratch.drop()
      fs.rmSync(storage, { recursive: true, force: true })
    },
  }
}

/** A helper process that prints its port once it listens: the SMTP sink, the bucket. */
async function startListening(script: string, what: string) {
  const helper = spawnScript(script, [], {}, true)
  const port = await new Promise<string>((resolve, reject) => {
    helper.child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()))
    helper.exited.then(() => reject(new Error(`the ${what} exited during start-up`)))
  })
  return { port, stop: helper.stop }
}

/** The SMTP sink of src/bench/smtp-sink.ts; its URL is the SMTP_URL to give the service. */
export async function startSmtpSink(): Promise<BenchService> {
  const { port, stop } = await startListening('src/bench/smtp-sink.ts', 'SMTP sink')
  return { url: `smtp://127.0.0.1:${port}`, stop }
}

/** The bucket of src/bench/bucket.ts; `env` is what points deckhand at it. */
export async function startBucket(): Promise<BenchService & { env: Record<string, string> }> {
  const { port, stop } = await startListening('src/bench/bucket.ts', 'bucket')
  const endpoint = `http://127.0.0.1:${port}`
  return {
    url: endpoint,
    stop,
    env: {
      STORAGE_URL: 's3://deckhand-bench/avatars',
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      // The standard AWS chain reads these; s3rver accepts only its own pair.
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    },
  }
}
