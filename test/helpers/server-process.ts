import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

export interface ServerProcess {
  url: string
  child: ChildProcess
  /** Every log line (parsed JSON) the process printed so far. */
  logs: Record<string, unknown>[]
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>
  /** Exits within `timeoutMs` or the test fails. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>
}

/**
 * Runs `src/server.ts` as its own process, as `npm start` does but from the sources through tsx (or `deckhand api` /
 * `deckhand worker` with `role`), and resolves once it listens (a worker too: it serves its health and metrics). `preload` modules are
 * imported into the process before the server (tests that provoke faults from inside).
 */
export async function startServerProcess(
  env: Record<string, string>,
  role?: 'api' | 'worker',
  preload: string[] = [],
): Promise<ServerProcess> {
  const args = [
    '--import',
    'tsx',
    ...preload.flatMap((file) => ['--import', file]),
    path.join(root, 'src/server.ts'),
    ...(role ? [role] : []),
  ]
  return watchServer(spawn(process.execPath, args, serverSpawnOptions(env)))
}

/**
 * Runs `npm run <script>` as an operator does: `child` is npm, and the server is a process of its own whose pid
 * its log lines tell (`serverPid`). Resolves once the server listens.
 */
export async function startNpmScript(
  script: string,
  env: Record<string, string>,
): Promise<ServerProcess & { serverPid: number }> {
  const server = await watchServer(spawn('npm', ['run', '--silent', script], serverSpawnOptions(env)))
  const serverPid = server.logs.find((l) => typeof l.pid === 'number')?.pid as number
  return { ...server, serverPid }
}

/** Levels at which the server does not print its "Server listening" line, which watchServer waits for. */
const QUIET_LEVELS = new Set(['warn', 'error', 'fatal', 'silent'])

function serverSpawnOptions(env: Record<string, string>) {
  // fastEnv's LOG_LEVEL is silent: spread after it, the server would listen unseen and the test wait to its timeout.
  if (env.LOG_LEVEL && QUIET_LEVELS.has(env.LOG_LEVEL)) {
    throw new Error(`a server process with LOG_LEVEL=${env.LOG_LEVEL} never says it listens: pass LOG_LEVEL 'info'`)
  }
  return {
    cwd: root,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
  }
}

async function watchServer(child: ChildProcess): Promise<ServerProcess> {
  const logs: Record<string, unknown>[] = []
  let stderr = ''
  child.stderr?.on('data', (c) => {
    stderr += c
  })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))
  })
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = ''
    child.stdout?.on('data', (chunk) => {
      buffer += chunk
      const lines = buffer.split('\n')
      buffer = lines.pop() ?? ''
      for (const line of lines) {
        try {
          const entry = JSON.parse(line)
          logs.push(entry)
          const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(entry.msg))
          if (m) resolve(m[1] as string)
        } catch {}
      }
    })
    exited.then((code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)))
  })
  return {
    url,
    child,
    logs,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      child.kill(signal)
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL')
          reject(new Error(`server did not exit within ${timeoutMs} ms of ${signal}`))
        }, timeoutMs)
      })
      try {
        return await Promise.race([exited, timeout])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}

/**
 * Runs `src/server.ts` expecting it to refuse to start; resolves with its exit code, stderr and stdout (the log).
 * One still running after `timeoutMs` is killed (code null).
 */
export function runServerExpectingFailure(
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/server.ts')], {
    cwd: root,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  let stdout = ''
  child.stderr?.on('data', (c) => {
    stderr += c
  })
  child.stdout?.on('data', (c) => {
    stdout += c
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stderr, stdout })
    }),
  )
}
