import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { fastEnv, tempDataDir } from '../helpers/app.ts'
import { startServerProcess } from '../helpers/server-process.ts'

const recorder = path.resolve(import.meta.dirname, '../helpers/record-loads.mjs')

/*
 * PostgreSQL, BullMQ (with ioredis) and the AWS SDK are for when one machine is not enough. A process on the
 * embedded defaults does not load them: they would be tens of MiB held at rest and under load for nothing
 * (src/bench/RESULTS.md). Each is loaded where its setting is read; the tests of each backend use them.
 */
t.test('on the embedded defaults, node-postgres, BullMQ, ioredis and the AWS SDK are never loaded', async (t) => {
  const dataDir = tempDataDir(t)
  const file = path.join(t.testdir(), 'loads.txt')
  const server = await startServerProcess(
    { ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: dataDir, RECORD_LOADS_FILE: file },
    undefined,
    [recorder],
  )
  t.teardown(() => server.stop('SIGKILL').catch(() => {}))
  // A signup: its transaction, its mail job claimed and sent, so the paths of a request and a job have run.
  const signup = await fetch(`${server.url}/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ann@example.com', name: 'Ann' }),
  })
  t.equal(signup.status, 201)
  t.equal(await server.stop(), 0)

  const packages = new Set(
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1])
      .filter((name) => name !== undefined),
  )
  t.ok(packages.has('better-sqlite3') && packages.has('fastify'), 'the record holds what the defaults use')
  for (const name of ['pg', 'bullmq', 'ioredis', '@aws-sdk/client-s3', '@aws-sdk/lib-storage']) {
    t.notOk(packages.has(name), `${name} is not loaded`)
  }
})
