import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { startupNotes } from '../src/startup-notes.ts'
import { fastEnv, tempDataDir } from './helpers/app.ts'
import { startServerProcess } from './helpers/server-process.ts'

const messages = (env: Record<string, string>, role: 'all' | 'api' | 'worker' = 'all') =>
  startupNotes(loadConfig(env), role, 'http://127.0.0.1:3000')

t.test('the start-up log says where the pages are, and why the dashboard is off', async (t) => {
  const off = messages({}).map((n) => n.msg)
  t.ok(off.includes('API and its documentation: http://127.0.0.1:3000/docs'))
  t.ok(off.some((m) => /^dashboard off: set ADMIN_TOKEN .* http:\/\/127\.0\.0\.1:3000\/dashboard$/.test(m)))
  t.ok(off.some((m) => m.startsWith('metrics: http://127.0.0.1:3000/metrics')))
  const on = messages({ ADMIN_TOKEN: 'x'.repeat(16), METRICS_TOKEN: 'y'.repeat(16) }).map((n) => n.msg)
  t.ok(on.includes('dashboard: http://127.0.0.1:3000/dashboard (log in with ADMIN_TOKEN)'))
  t.ok(on.some((m) => m.includes('/metrics (with METRICS_TOKEN')))
  t.notOk(
    messages({}, 'worker').some((n) => /docs|dashboard/.test(n.msg)),
    'a worker serves neither the API nor the dashboard',
  )
})

t.test('every switch that is not for production is named at start while it is on', async (t) => {
  t.same(
    messages({}).filter((n) => n.level === 'warn'),
    [],
    'none by default',
  )
  const warned = messages({ WEBHOOK_ALLOW_INSECURE: 'true', WEBHOOK_ALLOW_PRIVATE: 'true' })
    .filter((n) => n.level === 'warn')
    .map((n) => n.msg.split(' ')[0])
  t.same(warned.sort(), ['WEBHOOK_ALLOW_INSECURE', 'WEBHOOK_ALLOW_PRIVATE'])
})

t.test('a real start prints them after it listens', async (t) => {
  const server = await startServerProcess({
    ...fastEnv,
    LOG_LEVEL: 'info',
    DATA_DIR: tempDataDir(t),
    WEBHOOK_ALLOW_PRIVATE: 'true',
  })
  t.teardown(() => server.child.kill('SIGKILL'))
  const { logs, url } = server
  // The notes follow "Server listening" in the same turn; wait for the last of them.
  for (let i = 0; i < 100 && !logs.some((l) => /WEBHOOK_ALLOW_PRIVATE/.test(String(l.msg))); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const said = logs.map((l) => String(l.msg))
  t.ok(said.includes(`API and its documentation: ${url}/docs`), 'the docs, at the address it listens on')
  const warning = logs.find((l) => String(l.msg).startsWith('WEBHOOK_ALLOW_PRIVATE is on'))
  t.equal(warning?.level, 40, 'the development switch is a warning')
  await server.stop()
})
