import t from 'tap'
import { percentile, steadyRate } from '../src/bench/stats.ts'

t.test('steadyRate leaves the ramp out and counts completions per second from there', async (t) => {
  // A slow start (the first two take a second), then one completion every 100 ms.
  const finished = [1000, 1000, 1100, 1200, 1300, 1400, 1500]
  t.equal(steadyRate(finished, 0), 6 / 0.5, 'with the ramp: six in half a second')
  t.equal(steadyRate(finished, 2), 4 / 0.4, 'after two warm-up completions: ten a second')
  t.equal(steadyRate([...finished].reverse(), 2), 10, 'order does not matter')
  t.ok(Number.isNaN(steadyRate([1000, 1100], 1)), 'too few completions to tell')
  t.ok(Number.isNaN(steadyRate([1000, 1000, 1000], 0)), 'no time passed')
})

t.test('percentile is nearest-rank', async (t) => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1)
  t.equal(percentile(values, 50), 50)
  t.equal(percentile(values, 99), 99)
  t.equal(percentile([5], 99), 5)
  t.ok(Number.isNaN(percentile([], 50)))
})
