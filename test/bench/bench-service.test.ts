import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { removeDataDirs, startService, startSignupLimit } from '../../src/bench/service.ts'

const cmdline = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)

t.test(
  'the bench runs deckhand and the bare route it compares with under the Node options npm start uses',
  async (t) => {
    // Its figures are about deckhand as users run it: the young generation's size alone moved peak RSS by 100 MiB.
    const { config } = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../../package.json'), 'utf8'))
    const startOptions = String(config.nodeOptions).split(' ')
    t.ok(startOptions.length > 0 && startOptions.every((o) => o.startsWith('--')), 'npm start passes Node options')
    for (const start of [startService, startSignupLimit]) {
      const service = await start()
      try {
        const args = cmdline(service.pid).slice(1)
        t.same(args.slice(0, startOptions.length), startOptions, `${start.name}: the options, before the script`)
        t.match(args[startOptions.length], /dist\/src\/(server|bench\/signup-limit)\.js$/, `${start.name}: compiled`)
      } finally {
        await service.stop()
      }
    }
    removeDataDirs()
  },
)

t.test(
  "a stopped service's data folder stays until the run ends, so deleting its mail does not slow the next phase",
  async (t) => {
    // Deleting a phase's tens of thousands of mail files left ext4 creating files ten times slower for a minute, and
    // the next phase's mail lane fell to half its rate (src/bench/RESULTS.md).
    const service = await startService()
    const written = await fetch(`${service.url}/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'kept@example.com' }),
    })
    t.equal(written.status, 201)
    await service.stop()
    t.ok(fs.existsSync(path.join(service.dataDir, 'deckhand.db')), 'kept after the stop')
    removeDataDirs()
    t.notOk(fs.existsSync(service.dataDir), 'removed at the end of the run')
  },
)
