import { Worker } from 'node:worker_threads'
import type { WatchErrors } from '../error-events.ts'

/*
 * The thread that fsyncs: plain JavaScript, so it needs no TypeScript loader. It opens the WAL file (and syncs
 * its directory once, so the file itself survives a power cut), then answers each 'sync' with one fsync.
 */
const syncThread = `
const fs = require('node:fs')
const path = require('node:path')
const { parentPort, workerData } = require('node:worker_threads')
let fd
parentPort.on('message', () => {
  try {
    if (fd === undefined) {
      try {
        fd = fs.openSync(workerData.file, 'r')
      } catch (err) {
        // No WAL file: SQLite has checkpointed everything into the database file and synced it.
        if (err.code !== 'ENOENT') throw err
        parentPort.postMessage({})
        return
      }
      const dir = fs.openSync(path.dirname(workerData.file), 'r')
      try { fs.fsyncSync(dir) } finally { fs.closeSync(dir) }
    }
    fs.fsyncSync(fd)
    parentPort.postMessage({})
  } catch (err) {
    parentPort.postMessage({ error: { message: err.message, code: err.code } })
  }
})
`

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
    this.#worker = new Worker(syncThread, { eval: true, workerData: { file: walFile } })
    // Idle between syncs, it must not keep the process alive.
    this.#worker.unref()
    this.#worker.on('message', (answer: { error?: { message: string; code?: string } }) => this.#settle(answer))
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

  #settle(answer: { error?: { message: string; code?: string } }): void {
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
