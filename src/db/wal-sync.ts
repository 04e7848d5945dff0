import type { Worker } from 'node:worker_threads'
import type { WatchErrors } from '../error-events.ts'
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
 * share the next one (group commit): one fsync per burst of commits instead of one each.
 */
interface Waiter {
  resolve: () => void
  reject: (err: Error) => void
}

export class WalSyncer {
  readonly #worker: Worker
  /** Waiting for an fsync that has not started yet. */
  #next: Waiter[] = []
  /** Covered by the fsync under way. */
  #inFlight: Waiter[] = []
  #busy = false
  #requested = 0
  #fsyncs = 0

  /** `watchErrors` logs and counts the thread's death; the commits it was serving fail either way. */
  constructor(walFile: string, watchErrors?: WatchErrors) {
    // The thread (workers/wal-sync.ts) opens the WAL file once and answers each 'sync' with one fsync.
    const workerData: WalSyncData = { file: walFile }
    this.#worker = startWorkerThread(new URL('../../workers/wal-sync.ts', import.meta.url), { workerData })
    // Idle between syncs, it must not keep the process alive.
    this.#worker.unref()
    this.#worker.on('message', (answer: WalSyncAnswer) => this.#settle(answer))
    this.#worker.on('error', (err) => this.#fail(err))
    watchErrors?.(this.#worker, 'worker', { thread: 'WAL fsync' })
  }

  /** Resolves once every commit made before this call is on disk. */
  sync(): Promise<void> {
    this.#requested++
    return new Promise((resolve, reject) => {
      this.#next.push({ resolve, reject })
      if (!this.#busy) this.#start()
    })
  }

  /** Calls to sync() and the fsyncs that served them, for tests and metrics. */
  stats(): { requested: number; fsyncs: number } {
    return { requested: this.#requested, fsyncs: this.#fsyncs }
  }

  async close(): Promise<void> {
    await this.#worker.terminate()
    this.#fail(new Error('the database is closed'))
  }

  #start(): void {
    this.#busy = true
    this.#inFlight = this.#next
    this.#next = []
    this.#worker.ref()
    this.#worker.postMessage('sync')
  }

  #settle(answer: WalSyncAnswer): void {
    this.#fsyncs++
    const served = this.#inFlight
    this.#inFlight = []
    this.#busy = false
    this.#worker.unref()
    // A failed fsync (EIO, ENOSPC) fails every commit it covered: their clients hear an error, not "accepted".
    const error = answer.error && Object.assign(new Error(`fsync failed: ${answer.error.message}`), answer.error)
    for (const waiter of served) error ? waiter.reject(error) : waiter.resolve()
    if (this.#next.length > 0) this.#start()
  }

  #fail(err: Error): void {
    for (const waiter of [...this.#inFlight, ...this.#next]) waiter.reject(err)
    this.#inFlight = []
    this.#next = []
    this.#busy = false
  }
}
