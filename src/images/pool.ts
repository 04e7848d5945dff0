import { Piscina } from 'piscina'
import type { WatchErrors } from '../error-events.ts'
import { type AvatarOutcome, type AvatarTask, renderAvatar } from './avatar-pipeline.ts'

export interface ImagePoolOptions {
  threads: number
  idleTimeoutMs: number
  maxQueue: number
  maxHeapMb: number
  /** Nice value for image threads (0 leaves them at the event loop's priority). */
  nice: number
  /** The worker module; tests substitute one that crashes on purpose. */
  filename?: string
  /** Listens for the pool's 'error': a worker that died with no task of its own to fail. */
  watchErrors: WatchErrors
}

export interface ImagePool {
  run(task: AvatarTask, signal: AbortSignal): Promise<AvatarOutcome>
  readonly threads: number
  /**
   * Tasks waiting inside the pool, the share of time its threads were busy (0–1), threads alive now, and threads
   * running a task now.
   */
  stats(): { queued: number; utilization: number; alive: number; busy: number }
  close(): Promise<void>
}

/** The Piscina worker-thread pool that makes avatars off the event loop. */
export function createImagePool(options: ImagePoolOptions): ImagePool {
  const piscina = new Piscina({
    filename: options.filename ?? new URL('../../workers/avatar.ts', import.meta.url).href,
    // All threads start with the service: the first uploads should not pay for loading sharp into a new thread.
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
    // event per task, which counts for tasks of microseconds; an avatar takes about 100 ms.
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
    run: (task, signal) => {
      inFlight++
      return (piscina.run(task, { signal }) as Promise<AvatarOutcome>).finally(() => {
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

/**
 * The same work on the main thread, no pool: only for `npm run bench`, whose last phase shows what the pool buys.
 * A signal cannot interrupt it; sharp's own timeout still applies.
 */
export function createInlineImageRunner(): ImagePool {
  let busy = 0
  return {
    threads: 1,
    run: (task) => {
      busy++
      return renderAvatar(task).finally(() => {
        busy--
      })
    },
    stats: () => ({ queued: 0, utilization: 0, alive: 1, busy }),
    close: async () => {},
  }
}
