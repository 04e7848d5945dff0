import path from 'node:path'
import t from 'tap'
import { openDatabase } from '../../src/db/database.ts'
import { fastEnv, tempDataDir, watchErrorsQuietly } from '../helpers/app.ts'
import { countByStatus, fillJobs } from '../helpers/journal.ts'
import { runServerExpectingFailure, startServerProcess } from '../helpers/server-process.ts'

function openJournal(dataDir: string) {
  return openDatabase({
    url: undefined,
    sqliteFile: path.join(dataDir, 'deckhand.db'),
    synchronous: 'NORMAL',
    poolSize: 1,
    watchErrors: watchErrorsQuietly,
    timeoutMs: 1000,
  })
}

t.test('a second instance on a port in use exits 1 with one line, having run no job', async (t) => {
  const first = await startServerProcess({ ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: tempDataDir(t) })
  t.teardown(() => first.stop('SIGKILL'))
  const port = new URL(first.url).port

  // Its own data directory (so that the data-directory lock is not what stops it), holding jobs a crash left
  // running: a runner started there would requeue them at once.
  const dataDir = tempDataDir(t)
  const before = await openJournal(dataDir)
  await fillJobs(before.db, { count: 3, status: 'running', finishedAt: null, prefix: 'left-' })
  await before.close()

  const second = await runServerExpectingFailure({ ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: dataDir, PORT: port })
  t.equal(second.code, 1, 'exit code 1')
  t.equal(second.stderr.trim(), `deckhand: port ${port} on 127.0.0.1 is in use: another process listens there`)
  t.notMatch(second.stdout + second.stderr, /uncaughtException|\n\s+at /, 'no fatal log line, no stack trace')
  t.notMatch(second.stdout, /jobs running/, 'it never said it was running jobs')
  const after = await openJournal(dataDir)
  t.teardown(() => after.close())
  t.same(await countByStatus(after.db), { running: 3 }, 'the jobs left running were not touched')
  t.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first instance still serves')
})
