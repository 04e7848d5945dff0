// A stand-in for an image pool's worker module (ImagePoolOptions.substitute) that misbehaves on purpose, chosen by
// the type of the task's input file, to prove that a worker's failure stays with its own job. JPEGs go through the
// real task. Faults outside any task are armed by the test (./worker-faults.ts) and strike when a thread loads this
// module.
import fs from 'node:fs'
import path from 'node:path'
import { renderAvatar as render } from '../../src/avatars/render.ts'
import { takeWorkerFault } from './worker-faults.ts'

// Grows the V8 heap until the worker's resourceLimits stop it (ERR_WORKER_OUT_OF_MEMORY).
function exhaustHeap(): never {
  const hoard: number[][] = []
  for (;;) hoard.push(new Array(1e6).fill(Math.random()))
}

// Piscina may evaluate this module twice in one thread: through require() first and, when that throws, through
// import(). The faults are taken once per thread and kept on the thread's own global, so that both see them.
const faults = globalThis as { armedFaults?: { starting: boolean; idle: boolean } }
faults.armedFaults ??= { starting: takeWorkerFault('fail-while-starting'), idle: takeWorkerFault('die-while-idle') }
// Dies while loading, before it could hold a task.
if (faults.armedFaults.starting) throw new Error('the worker failed while starting')
// Loads, reports ready, and dies a little later while idle.
if (faults.armedFaults.idle) {
  setTimeout(() => {
    throw new Error('the worker died while idle')
  }, 200)
}

/** `work`, made to misbehave by its input file's type: any task that works on one file can stand in. */
function faulty<In extends { input: string }, Out>(work: (input: In) => Promise<Out>): (task: In) => Promise<Out> {
  return async (task) => {
    if (task.input.endsWith('.png')) exhaustHeap()
    if (task.input.endsWith('.avif')) {
      // Returns its result, then runs out of memory: the job is done, and the death belongs to no task.
      const outcome = await work(task)
      setTimeout(exhaustHeap, 100)
      return outcome
    }
    // Never answers: only the job's timeout (an AbortSignal that ends this thread) gets it unstuck.
    if (task.input.endsWith('.webp')) await new Promise(() => {})
    if (task.input.endsWith('.tiff')) throw new Error('the worker threw')
    if (task.input.endsWith('.gif')) {
      // Crashes the thread on the first attempt only; the retry succeeds.
      // Beside the job's scratch folder, not in it: each attempt gets a new scratch folder.
      const marker = path.join(path.dirname(path.dirname(task.input)), `${path.basename(task.input)}.crashed-once`)
      if (!fs.existsSync(marker)) {
        fs.writeFileSync(marker, '')
        process.exit(1)
      }
      fs.rmSync(marker)
    }
    return work(task)
  }
}

/** Stands in for workers/avatar.ts's task of the same name. */
export const renderAvatar = faulty(render)
