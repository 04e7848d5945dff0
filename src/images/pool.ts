import { Piscina } from 'piscina'
import type { WatchErrors } from '../error-events.ts'
import type { ImageTask } from './task.ts'

export interface ImagePoolOptions {
  threads: number
  idleTimeoutMs: number
  maxQueue: number
  maxHeapMb: number
  /** Nice value for image threads (0 leaves them at the event loop's priority). */
  nice: number
  /**
   * The tasks the job kinds run here. A thread loads the first one's module as it starts, so that the first tasks
   * do not pay for loading it (and sharp) into a new thread; the others' modules load at their first task, sharp
   * being in by then.
   */
  preload: readonly ImageTask<never, unknown>[]
  /**
   * A module that stands in for every task's own, exporting the same names: tests substitute one that misbehaves
   * on purpose.
   */
  substitute?: string
  /** Listens for the pool's 'error': a worker that died with no task of its own to fail. */
  watchErrors: WatchErrors
}

export interface ImagePool {
  /** Runs `task` on a pool thread; `signal` ends the thread if the task has started (Piscina replaces it). */
  run<In, Out>(task: ImageTask<In, Out>, input: In, signal: AbortSignal): Promise<Out>
  readonly threads: number
  /**
   * Tasks waiting inside the pool, the share of time its threads were busy (0–1), threads alive now, and threads
   * running a task now.
   */
  stats(): { queued: number; utilization: number; alive: number; busy: number }
  close(): Promise<void>
}

/** The Piscina worker-thread pool that runs image work off the event loop: any named task of a worker module. */
export function createImagePool(options: ImagePoolOptions): ImagePool {
  const [first] = options.preload
  const piscina = new Piscina({
    filename: options.substitute ?? first?.filename ?? null,
    name: first?.name,
    // All threads start with the service: the first tasks should not pay for loading sharp into a new thread.
    minThreads: options.threads,
    maxThreads: options.threads,
    idleTimeout: options.idleTimeoutMs,
    maxQueue: options.maxQueue,
    // Caps only the V8 heap of each worker; libvips allocates natively, outside this limit.
    resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb },
    workerData: { nice: options.nice },
    // Idle threads run their event loop instead of blocking in Atomics.wait (Piscina's default, 'sync'), so what a
    // task left behind (a timer, a stream closing) runs when it is due: a fault there surfaces at once as the
    // pool's 'error' below, not inside whichever later job wakes the thread, failing it. Atomics spare a message
    // event per task, which counts only for tasks far shorter than an image's.
    atomics: 'disabled',
  })
  // A thread that dies holding a task fails that task (the job gets WORKER_FAILED and is retried). One that dies
  // with none (idle, just after returning a result, or while loading its module) is reported here instead;
  // unheard, that event would end the process. Piscina replaces the thread to keep minThreads, unless a replacement
  // itself failed while starting: then it starts threads only when a task finds none free (no restart loop).
  options.watchErrors(piscina, 'pool')
  // Piscina tells how many tasks wait but not how many run: tasks in flight less those waiting are on a thread.
  let inFlight = 0
  return {
    threads: options.threads,
    run: <In, Out>(task: ImageTask<In, Out>, input: In, signal: AbortSignal) => {
      inFlight++
      const filename = options.substitute ?? task.filename
      return (piscina.run(input, { filename, name: task.name, signal }) as Promise<Out>).finally(() => {
        inFlight--
      })
    },
    stats: () => ({
      queued: piscina.queueSize,
      utilization: piscina.utilization,
      alive: piscina.threads.length,
      busy: Math.max(0, Math.min(options.threads, inFlight - piscina.queueSize)),
    }),
    close: () => piscina.destroy(),
  }
}
