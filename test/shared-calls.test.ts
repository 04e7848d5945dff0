import t from 'tap'
import { sharedMake, sharedSync } from '../src/shared-calls.ts'

/** A sync (or make) whose calls the test ends one by one, in order. */
function heldCalls() {
  const calls: { dir: string; end: (err?: Error) => void }[] = []
  const call = (dir: string) =>
    new Promise<void>((resolve, reject) => calls.push({ dir, end: (err) => (err ? reject(err) : resolve()) }))
  return { calls, call }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

t.test(
  'a sync is shared by the callers that ask while one runs, each served by one begun after it asked',
  async (t) => {
    const held = heldCalls()
    const sync = sharedSync(held.call)
    const served: string[] = []
    const a = sync('/v').then(() => served.push('a'))
    const b = sync('/v').then(() => served.push('b'))
    const c = sync('/v').then(() => served.push('c'))
    const other = sync('/w').then(() => served.push('other'))
    t.same(
      held.calls.map((call) => call.dir),
      ['/v', '/w'],
      'one sync a folder, at once',
    )
    held.calls[0]?.end()
    await a
    await tick()
    t.same(served, ['a'], 'b and c asked after the first sync began: it does not serve them')
    t.equal(held.calls.length, 3, 'their sync begins when the first ends')
    held.calls[2]?.end()
    await Promise.all([b, c])
    t.same(served, ['a', 'b', 'c'], 'one sync served both')
    held.calls[1]?.end()
    await other
    t.equal(held.calls.length, 3, 'three syncs for four callers in two folders')
    const d = sync('/v')
    t.equal(held.calls.length, 4, 'a caller after they all ended gets a sync of its own at once')
    held.calls[3]?.end()
    await d
  },
)

t.test('a failed sync fails its callers only; those waiting for the next get theirs', async (t) => {
  const held = heldCalls()
  const sync = sharedSync(held.call)
  const a = sync('/v')
  const b = sync('/v')
  held.calls[0]?.end(new Error('EIO'))
  await t.rejects(a, /EIO/)
  await tick()
  t.equal(held.calls.length, 2, 'the next sync still begins')
  held.calls[1]?.end()
  await t.resolves(b)
})

t.test('a folder is made once for the callers that overlap, and again for a caller after', async (t) => {
  const held = heldCalls()
  const make = sharedMake(held.call)
  const both = Promise.all([make('/v'), make('/v')])
  t.equal(held.calls.length, 1)
  held.calls[0]?.end()
  await both
  const later = make('/v')
  t.equal(held.calls.length, 2)
  held.calls[1]?.end()
  await later
  const failed = make('/w')
  held.calls[2]?.end(new Error('EACCES'))
  await t.rejects(failed, /EACCES/, 'a failure is its callers’')
})
