import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { fileCreateMicros, settleFileSystem } from '../../src/bench/file-system-settle.ts'

/**
 * A clock that moves when the settle loop sleeps and while a probe runs (20 ms each), and a probe that answers the
 * given figures in turn.
 */
function scripted(figures: number[]) {
  let clock = 0
  const slept: number[] = []
  const told: Array<[number, number]> = []
  let probes = 0
  return {
    slept,
    told,
    probes: () => probes,
    options: {
      measure: () => {
        clock += 20
        return figures[Math.min(probes++, figures.length - 1)] as number
      },
      sleep: async (ms: number) => {
        slept.push(ms)
        clock += ms
      },
      now: () => clock,
      waiting: (micros: number, waitedMs: number) => {
        told.push([micros, waitedMs])
      },
    },
  }
}

t.test('a quiet file system: one probe, no wait', async (t) => {
  const s = scripted([40])
  const settled = await settleFileSystem({ thresholdMicros: 100, maxWaitMs: 300_000, intervalMs: 15_000, ...s.options })
  t.same(settled, { fileCreateMicros: 40, waitedMs: 0, settled: true }, "the probe's own time is no wait")
  t.equal(s.probes(), 1)
  t.same(s.slept, [2_000], 'two seconds first, for inodes freed just before to count as freed')
})

t.test('a slow one: probes every interval until a file is as cheap as the threshold', async (t) => {
  const s = scripted([600, 330, 100, 35])
  const settled = await settleFileSystem({ thresholdMicros: 100, maxWaitMs: 300_000, intervalMs: 15_000, ...s.options })
  t.same(settled, { fileCreateMicros: 100, waitedMs: 30_040, settled: true }, 'at the threshold counts as settled')
  t.same(s.slept, [2_000, 15_000, 15_000])
  t.same(
    s.told,
    [
      [600, 0],
      [330, 15_020],
    ],
    'each probe that did not settle is told, with the wait so far',
  )
})

t.test('one that does not settle: gives up before the wait would pass its limit, and says so', async (t) => {
  const s = scripted([300])
  const settled = await settleFileSystem({ thresholdMicros: 100, maxWaitMs: 40_000, intervalMs: 15_000, ...s.options })
  // Probes at 0, 15 and 30 s (and 20 ms each); another 15 s would pass 40.
  t.same(settled, { fileCreateMicros: 300, waitedMs: 30_040, settled: false })
  t.equal(s.probes(), 3)
})

t.test('no wait allowed: measures once', async (t) => {
  const s = scripted([300])
  const settled = await settleFileSystem({ thresholdMicros: 100, maxWaitMs: 0, intervalMs: 15_000, ...s.options })
  t.same(settled, { fileCreateMicros: 300, waitedMs: 0, settled: false })
  t.same(s.slept, [2_000])
})

t.test('the probe creates its files as the mail folder does: each renamed into place, none half-written', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-probe-test-'))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  const first = fileCreateMicros(root, 50)
  const second = fileCreateMicros(root, 50)
  t.ok(first > 0 && Number.isFinite(first), `${first.toFixed(0)} µs a file`)
  t.ok(second > 0 && Number.isFinite(second))
  const folders = fs.readdirSync(root)
  t.equal(folders.length, 2, 'each probe in a new folder, as each service starts on a new DATA_DIR')
  for (const folder of folders) {
    const names = fs.readdirSync(path.join(root, folder))
    t.equal(names.length, 50, 'the files stay')
    t.ok(
      names.every((n) => n.endsWith('.eml') && !n.startsWith('.')),
      'no temporary file is left',
    )
    t.equal(fs.readFileSync(path.join(root, folder, names[0] as string), 'utf8').length, 1000)
  }
})
