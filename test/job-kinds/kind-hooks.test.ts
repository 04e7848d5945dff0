import t from 'tap'
import { Type } from 'typebox'
import { defineJobKind, defineLane, JobKinds, type KindSweep } from '../../src/jobs/kind.ts'

/*
 * What the list of kinds gives the pool and the sweeper: each kind says which pool tasks it runs and what sweeps its
 * files; the list makes each once, however many kinds name it.
 */

const lane = defineLane({ name: 'test', concurrency: () => 1 })
const payload = Type.Object({})
const handler = () => async () => undefined
const task = (name: string) => ({ filename: '/workers/test.ts', name })

interface Parts {
  made: string[]
  runsJobs: boolean
}

const folderSweep: KindSweep<Parts> = (parts) => {
  parts.made.push('folder')
  return parts.runsJobs ? { name: 'folder', run: async () => {} } : undefined
}
const bucketSweep: KindSweep<Parts> = (parts) => {
  parts.made.push('bucket')
  return { name: 'bucket', run: async () => {} }
}

const kinds = new JobKinds<unknown, unknown, Parts>([
  defineJobKind({ name: 'a', payload, lane, handler, poolTasks: [task('render')], sweep: folderSweep }),
  defineJobKind({ name: 'b', payload, lane, handler, poolTasks: [task('render'), task('crop')], sweep: folderSweep }),
  defineJobKind({ name: 'c', payload, lane, handler, sweep: bucketSweep }),
  defineJobKind({ name: 'd', payload, lane, handler }),
])

t.test('the pool is given each task the kinds run, once', async (t) => {
  t.same(
    kinds.poolTasks.map((p) => p.name),
    ['render', 'crop'],
  )
})

t.test('a sweep two kinds share is made and run once', async (t) => {
  const parts = { made: [], runsJobs: true }
  t.same(
    kinds.sweeps(parts).map((s) => s.name),
    ['folder', 'bucket'],
  )
  t.same(parts.made, ['folder', 'bucket'], 'each made once')
})

t.test('a kind with nothing to sweep in this process adds no task', async (t) => {
  t.same(
    kinds.sweeps({ made: [], runsJobs: false }).map((s) => s.name),
    ['bucket'],
  )
})
