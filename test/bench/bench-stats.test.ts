import t from 'tap'
import { climbRates } from '../../src/bench/phases.ts'
import { metricSum, percentile, slope, steadyRate } from '../../src/bench/stats.ts'

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

t.test('slope is the least-squares rate of change', async (t) => {
  t.equal(slope([1, 2, 3, 4], [10, 12, 14, 16]), 2, 'a straight line: its gradient')
  t.equal(slope([1, 2, 3, 4], [5, 5, 5, 5]), 0, 'flat')
  // 0, 1, 0, 1 around a flat mean: the fit leans a little upward, far less than the last minus the first.
  t.equal(slope([1, 2, 3, 4], [0, 1, 0, 1]), 0.2)
  t.equal(slope([2, 4, 6], [30, 20, 10]), -5, 'falling, x not in unit steps')
  t.equal(slope([3, 1, 2], [14, 10, 12]), 2, 'order does not matter')
  t.ok(Number.isNaN(slope([1], [1])), 'one point has no slope')
  t.ok(Number.isNaN(slope([2, 2], [1, 3])), 'no spread in x has no slope')
})

t.test('metricSum adds the samples whose labels match', async (t) => {
  const text = [
    '# HELP deckhand_jobs Jobs in the journal by kind and status',
    'deckhand_jobs{kind="welcome_mail",status="queued"} 12',
    'deckhand_jobs{kind="avatar",status="queued"} 3',
    'deckhand_jobs{kind="avatar",status="succeeded"} 40',
    'deckhand_jobs_swept_total{status="queued"} 99',
    'process_open_fds 21',
  ].join('\n')
  t.equal(metricSum(text, 'deckhand_jobs', { status: 'queued' }), 15, 'every kind, one status')
  t.equal(metricSum(text, 'deckhand_jobs'), 55, 'no labels: every sample')
  t.equal(metricSum(text, 'deckhand_jobs', { status: 'failed' }), 0, 'none matches')
  t.equal(metricSum(text, 'process_open_fds'), 21, 'a metric without labels')
  t.equal(metricSum(text, 'process_open_fds', { status: 'queued' }), 0, 'labels asked of a metric that has none')
})

t.test('phase 7 climbs the rates until one fails, then tries once halfway back', async (t) => {
  const holds = (limit: number) => async (rate: number) => ({ rate, ok: rate <= limit })
  const rates = [400, 800, 1200, 1600, 2000, 2400, 2800, 3200, 3600]
  const between = await climbRates(rates, holds(3300))
  t.same(
    between.steps.map((s) => s.rate),
    [400, 800, 1200, 1600, 2000, 2400, 2800, 3200, 3600, 3400],
    'up to the first that fails, then halfway between it and the last that kept up',
  )
  t.equal(between.highestRate, 3200, 'halfway failed too: the last that kept up')
  t.equal((await climbRates(rates, holds(3450))).highestRate, 3400, 'halfway kept up: the answer')
  t.same((await climbRates(rates, holds(5000))).steps.length, rates.length, 'all kept up: no more tries')
  const first = await climbRates(rates, holds(100))
  t.same([first.highestRate, first.steps.length], [0, 1], 'the first failed: nothing to halve')
  t.same(
    (await climbRates([400, 500, 900], holds(450))).steps.map((s) => s.rate),
    [400, 500],
    'a step of 100 is not halved',
  )
})
