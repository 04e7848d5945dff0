import type { Worker } from 'node:worker_threads'
import type { WatchErrors } from '../error-events.ts'
import { sharedSync } from '../shared-calls.ts'
import { startWorkerThread } from '../worker-thread.ts'

/** What the fsync thread (workers/wal-sync.ts) is started with. */
export interface WalSyncData {
  /** The WAL file to fsync. */
  file: string
}

/** The answer to each 'sync': empty once the WAL is on disk, or the fsync's error. */
export interface WalSyncAnswer {
  error?: { message: string; code?: string }
}

/**
 * Makes SQLite commits durable without the event loop waiting on the disk. The connection commits with
 * synchronous NORMAL (the WAL is written, not fsynced); whoever must not acknowledge before the data is on
 * disk awaits `sync()`, which fsyncs the WAL file on its own thread. Callers that arrive while an fsync runs
 * share the next one (group commit, as the folder store's fsyncs: sharedSync): one fsync per burst of commits
 * instead of one each.
 */
export class WalSyncer {
  readonly #worker: Worker
  readonly #file: string
  readonly #sync: (file: string) => Promise<void>
  /** The fsync the thread is doing: one at a time (sharedSync). */
  #answer: { resolve: () => void; reject: (err: Error) => void } | undefined
  /** Why no fsync can be done any more: the thread died, or the database was closed. */
  #stopped: Error | undefined
  #requested = 0
  #fsyncs = 0
  /** When the fsync under way was asked of the thread (performance.now()). */
  #askedAt = 0
  readonly #listeners: ((seconds: number) => void)[] = []

  /** `watchErrors` logs and counts the thread's death; the commits it was serving fail either way. */
  constructor(walFile: string, watchErrors?: WatchErrors) {
    this.#file = walFile
    // The thread (workers/wal-sync.ts) opens the WAL file once and answers each 'sync' with one fsync.
    const workerData: WalSyncData = { file: walFile }
    this.#worker = startWorkerThread(new URL('../../workers/wal-sync.ts', import.meta.url), { workerData })
    // Idle between syncs, it must not keep the process alive.
    this.#worker.unref()
    this.#worker.on('message', (answer: WalSyncAnswer) => this.#settle(answer))
    this.#worker.on('error', (err) => this.#stop(err))
    watchErrors?.(this.#worker, 'worker', { thread: 'WAL fsync' })
    this.#sync = sharedSync(() => this.#fsync())
  }

  /** Resolves once every commit made before this call is on disk. */
  sync(): Promise<void> {
    this.#requested++
    return this.#sync(this.#file)
  }

  /** Calls to sync() and the fsyncs that served them, for tests and metrics. */
  stats(): { requested: number; fsyncs: number } {
    return { requested: this.#requested, fsyncs: this.#fsyncs }
  }

  /**
   * Calls `listener` with each fsync's time as its commits waited for it: from asking the thread to its answer (the
   * thread's wake-up included). A disk whose fsync stalls holds every acceptance behind it while the event loop is
   * idle; this is where that shows.
   */
  onFsync(listener: (seconds: number) => void): void {
    this.#listeners.push(listener)
  }

  async close(): Promise<void> {
    await this.#worker.terminate()
    this.#stop(new Error('the database is closed'))
  }

  /** One fsync on the thread. */
  #fsync(): Promise<void> {
    if (this.#stopped) return Promise.reject(this.#stopped)
    return new Promise((resolve, reject) => {
      this.#answer = { resolve, reject }
      this.#askedAt = performance.now()
      this.#worker.ref()
      this.#worker.postMessage('sync')
    })
  }

  #settle(answer: WalSyncAnswer): void {
    this.#fsyncs++
    const seconds = (performance.now() - this.#askedAt) / 1000
    const waiting = this.#answer
    this.#answer = undefined
    this.#worker.unref()
    // A failed fsync (EIO, ENOSPC) fails every commit it covered: their clients hear an error, not "accepted".
    if (answer.error) waiting?.reject(Object.assign(new Error(`fsync failed: ${answer.error.message}`), answer.error))
    else waiting?.resolve()
    // After the commits are settled: what watches the fsyncs never holds them.
    for (const listener of this.#listeners) listener(seconds)
  }

  /** Fails the fsync under way, and every one asked for after it. */
  #stop(err: Error): void {
    this.#stopped ??= err
    const waiting = this.#answer
    this.#answer = undefined
    waiting?.reject(err)
  }
}
