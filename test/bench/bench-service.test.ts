import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { removeDataDirs, startService } from '../../src/bench/service.ts'

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
