import { pathToFileURL } from 'node:url'
import type { ImagePool } from '../images/pool.ts'
import type { ImageTask } from '../images/task.ts'

/**
 * Runs every image task on the calling thread, no pool: the function its worker module exports, called directly.
 * Only for phase 5, which shows what the pool buys. A signal cannot interrupt a task; sharp's own timeout still
 * applies.
 */
export function inlineImagePool(): ImagePool {
  let busy = 0
  return {
    threads: 1,
    async run<In, Out>(task: ImageTask<In, Out>, input: In): Promise<Out> {
      busy++
      try {
        const module = (await import(pathToFileURL(task.filename).href)) as Record<string, (input: In) => Promise<Out>>
        const work = module[task.name]
        if (!work) throw new Error(`${task.filename} exports no ${task.name}`)
        return await work(input)
      } finally {
        busy--
      }
    },
    stats: () => ({ queued: 0, utilization: 0, alive: 1, busy }),
    close: async () => {},
  }
}
