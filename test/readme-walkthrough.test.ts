import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { freePort } from './helpers/ports.ts'

/*
 * The README's walkthrough, run as a newcomer runs it: the service started by the section's first block from the
 * repository's folder, then every other block pasted, in order, into one bash, twice over. Only where the
 * service listens and keeps its files is changed, so that the test neither takes port 3000 nor writes ./data.
 */
const root = path.resolve(import.meta.dirname, '..')
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')

function walkthroughBlocks(): string[] {
  const section = readme.split('\n## Walkthrough\n')[1]?.split('\n## ')[0] ?? ''
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string)
}

async function waitUntilUp(url: string, server: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the service exited with ${server.exitCode}`)
    try {
      if ((await fetch(`${url}/healthz`)).ok) return
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the service did not answer /healthz in time')
}

function runBash(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const bash = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: root, env })
    let out = ''
    bash.stdout.on('data', (chunk) => {
      out += chunk
    })
    bash.stderr.on('data', (chunk) => {
      out += chunk
    })
    const timer = setTimeout(() => bash.kill('SIGKILL'), 120_000)
    bash.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, out })
    })
  })
}

t.test('the README walkthrough runs as pasted, twice over', async (t) => {
  const blocks = walkthroughBlocks()
  t.ok(blocks.length >= 8, `the walkthrough has its blocks (${blocks.length})`)
  const [start = '', ...steps] = blocks
  t.match(start, /npm start/, 'the first block starts the service with npm start')

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-walkthrough-'))
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const port = await freePort()
  const receiverPort = await freePort()
  const env = { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn' }
  // Its own process group: npm, and the service it execs, end together.
  const server = spawn('bash', ['-c', start], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let serverOut = ''
  server.stdout?.on('data', (chunk) => {
    serverOut += chunk
  })
  server.stderr?.on('data', (chunk) => {
    serverOut += chunk
  })
  t.teardown(async () => {
    if (server.exitCode !== null) return
    const exited = new Promise((resolve) => server.once('exit', resolve))
    process.kill(-(server.pid as number), 'SIGTERM')
    await exited
  })
  await waitUntilUp(`http://127.0.0.1:${port}`, server, 60_000)

  const script = steps
    .join('\n')
    .replaceAll('localhost:3000', `localhost:${port}`)
    .replaceAll('127.0.0.1:4000', `127.0.0.1:${receiverPort}`)
    .replaceAll('data/mail/', `${dataDir}/mail/`)
  for (const round of [1, 2]) {
    const run = await runBash(script, { ...process.env, RECEIVER_PORT: String(receiverPort) })
    t.equal(run.code, 0, `round ${round}: every block ran without an error`, { output: run.out, service: serverOut })
    t.match(run.out, /event: succeeded/, `round ${round}: the event stream ended with succeeded`)
    t.match(run.out, /^content-type: image\//m, `round ${round}: a variant was fetched`)
    t.match(run.out, /\.eml$/m, `round ${round}: the welcome mail was found`)
    t.match(run.out, /"type":"avatar\.ready"/, `round ${round}: the receiver verified an avatar.ready delivery`)
    t.match(run.out, /"kind": "image\.avatar"/, `round ${round}: the admin API listed the jobs`)
    t.match(run.out, /^deckhand_jobs\{/m, `round ${round}: /metrics answered`)
  }
})
