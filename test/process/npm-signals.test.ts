import net from 'node:net'
import t from 'tap'
import { fastEnv, tempDataDir } from '../helpers/app.ts'
import { startNpmScript } from '../helpers/server-process.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { waitFor } from '../helpers/wait.ts'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname)
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(true))
  })
}

/*
 * systemd, container runtimes and `timeout` signal the process they started: npm. npm forwards SIGTERM to the
 * shell that runs the script; the script must hand it on to the server, or the server outlives npm, an orphan
 * still holding its port (and its data directory).
 */
for (const script of ['start', 'start:api'] as const) {
  t.test(`SIGTERM to npm (npm run ${script}) reaches the server, which shuts down`, async (t) => {
    const env: Record<string, string> = { ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: tempDataDir(t) }
    if (script === 'start:api') {
      // `api` needs BullMQ: a scratch database and Redis prefix, removed when the test ends.
      if (!(await servicesAvailable(t))) return
      Object.assign(env, await scaledEnv(t))
    }
    const npm = await startNpmScript(script, env)
    t.teardown(() => {
      npm.child.kill('SIGKILL')
      if (alive(npm.serverPid)) process.kill(npm.serverPid, 'SIGKILL')
    })
    t.ok(npm.serverPid && npm.serverPid !== npm.child.pid, `the server (pid ${npm.serverPid}) is not npm itself`)
    t.equal((await fetch(`${npm.url}/healthz`)).status, 200, 'the server answers')

    npm.child.kill('SIGTERM')
    // SHUTDOWN_GRACE_MS is 2 s in fastEnv; the server leaves within it and npm right after.
    const code = await Promise.race([npm.exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))])
    t.equal(code, 0, 'npm exits 0: the server shut down cleanly and npm passed its code on')
    await waitFor('the server process to be gone', () => !alive(npm.serverPid), 10_000).catch(() => {})
    t.notOk(alive(npm.serverPid), 'no server process is left behind')
    t.ok(await refused(npm.url), 'nothing listens on its port any more')
    t.ok(
      npm.logs.some((l) => l.msg === 'shutting down: no new work taken, running jobs get the grace period'),
      'the server heard the signal itself',
    )
  })
}
