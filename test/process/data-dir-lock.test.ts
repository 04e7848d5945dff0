import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { StartupError } from '../../src/startup-error.ts'
import { fastEnv, signup, startApp, tempDataDir } from '../helpers/app.ts'
import { runServerExpectingFailure, startServerProcess } from '../helpers/server-process.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'

t.test('a second process on the same DATA_DIR refuses to start and names the holder', async (t) => {
  const dataDir = tempDataDir(t)
  const env = { ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: dataDir }
  const first = await startServerProcess(env)
  t.teardown(() => first.stop('SIGKILL'))
  const pid = first.child.pid as number

  // Another port: only the data directory is shared.
  const second = await runServerExpectingFailure(env, 30_000)
  t.equal(second.code, 1, 'exit code 1')
  t.equal(second.stderr.split('\n').filter(Boolean).length, 1, 'one line')
  t.match(second.stderr, `deckhand: DATA_DIR ${dataDir} is in use by another deckhand process, pid ${pid}`)
  t.notMatch(second.stdout, /jobs running|requeued/, 'it ran no job and recovered none')
  t.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first still serves')

  t.equal(await first.stop('SIGKILL'), 'SIGKILL')
  // The pid file outlives a kill -9, and its pid may be anybody's by now (here: this live test process). The lock
  // died with its process, and only the lock counts.
  fs.writeFileSync(path.join(dataDir, 'deckhand.pid'), `${process.pid}\n`)
  const third = await startServerProcess(env)
  t.teardown(() => third.stop('SIGKILL'))
  t.equal((await fetch(`${third.url}/healthz`)).status, 200, 'a restart after kill -9 starts')
  t.equal(fs.readFileSync(path.join(dataDir, 'deckhand.pid'), 'utf8'), `${third.child.pid}\n`, 'and names itself')
  t.equal(await third.stop('SIGTERM'), 0)
  t.notOk(fs.existsSync(path.join(dataDir, 'deckhand.pid')), 'a clean shutdown removes the pid file')
})

t.test('in one process: a second app on an open DATA_DIR is refused; once the first closes, it opens', async (t) => {
  const first = await startApp(t)
  await signup(first, 'ann@example.com')
  const config = loadConfig({ ...fastEnv, DATA_DIR: first.config.dataDir })
  await t.rejects(buildApp(config), StartupError)
  await first.close()
  const again = await buildApp(config)
  t.teardown(() => again.close())
  await again.ready()
  t.equal((await again.inject({ url: '/healthz' })).statusCode, 200)
})

t.test('on PostgreSQL an api and a worker may share a DATA_DIR: the lock is only for the SQLite journal', async (t) => {
  if (!(await servicesAvailable(t))) return
  const config = loadConfig({ ...fastEnv, ...(await scaledEnv(t)), DATA_DIR: tempDataDir(t) })
  const api = await buildApp(config, { role: 'api' })
  t.teardown(() => api.close())
  const worker = await buildApp(config, { role: 'worker' })
  t.teardown(() => worker.close())
  await Promise.all([api.ready(), worker.ready()])
  t.equal((await api.inject({ url: '/healthz' })).statusCode, 200)
  t.equal((await worker.inject({ url: '/healthz' })).statusCode, 200)
})
