import t from 'tap'
import { AuthFailureLimit } from '../../src/auth/failure-limit.ts'

t.test('an address past its failures waits out its window; a success clears its count', async (t) => {
  const limit = new AuthFailureLimit(3, 10_000)
  for (let i = 0; i < 3; i++) {
    t.equal(limit.blockedFor('a', 1000), undefined)
    limit.failed('a', 1000)
  }
  t.equal(limit.blockedFor('a', 1000), 10, 'blocked for the rest of its window, in seconds')
  t.equal(limit.blockedFor('a', 10_500), 1, 'never less than a second')
  t.equal(limit.blockedFor('a', 11_000), undefined, 'open again when the window ends')
  limit.failed('a', 11_000)
  t.equal(limit.blockedFor('a', 11_000), undefined, 'a new window counts from one')
  limit.failed('b', 0)
  limit.failed('b', 0)
  limit.succeeded('b')
  limit.failed('b', 0)
  limit.failed('b', 0)
  t.equal(limit.blockedFor('b', 0), undefined, 'a success started the count again')
  const off = new AuthFailureLimit(0, 10_000)
  for (let i = 0; i < 100; i++) off.failed('a', 0)
  t.equal(off.blockedFor('a', 0), undefined, 'max 0: off')
  t.equal(off.size, 0)
})

t.test('many addresses cannot grow the map past its bound; the oldest windows go first', async (t) => {
  const limit = new AuthFailureLimit(2, 60_000, 100)
  for (let i = 0; i < 10_000; i++) limit.failed(`10.0.${i >> 8}.${i & 255}`, i)
  t.equal(limit.size, 100)
  limit.failed('victim', 20_000)
  limit.failed('victim', 20_000)
  t.ok(limit.blockedFor('victim', 20_000), 'the newest address is counted')
  t.equal(limit.blockedFor('10.0.0.0', 20_000), undefined, 'the first one was forgotten')
})
