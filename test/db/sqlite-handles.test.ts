import { spawnSync } from 'node:child_process'
import t from 'tap'

t.test(
  'better-sqlite3 statements are never left to the garbage collector (Node 24 aborts when it takes one)',
  async (t) => {
    // On Node 24 a Statement collected outside a JavaScript context aborts the process with SIGABRT
    // ("Assertion failed: (env) != nullptr"); src/db/sqlite-handles.ts holds every one. On Node 20 the same run
    // passes either way, which is why .ci/run runs the suite on Node 24 too.
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', new URL('../helpers/sqlite-under-gc.ts', import.meta.url).pathname],
      { encoding: 'utf8', timeout: 60_000 },
    )
    t.equal(run.signal, null, `not killed by a signal (${run.signal}): ${run.stderr.slice(0, 300)}`)
    t.equal(run.status, 0)
    t.match(run.stdout, /survived/)
  },
)
