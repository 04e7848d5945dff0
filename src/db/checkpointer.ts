import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type { WatchErrors } from '../error-events.ts'

/*
 * The checkpoint thread: plain JavaScript, so it needs no TypeScript loader. It opens the database with a
 * connection of its own and, every intervalMs, copies what the WAL holds into the database file (a PASSIVE
 * checkpoint: it never waits for the writer, and takes what it can). It holds its connection until told to close,
 * so better-sqlite3's objects are never left to the garbage collector (see sqlite-handles.ts).
 */
const checkpointThread = `
const { parentPort, workerData } = require('node:worker_threads')
const Sqlite = require(workerData.sqliteModule)
const db = new Sqlite(workerData.file)
db.pragma('busy_timeout = 1000')
db.pragma('journal_size_limit = ' + workerData.walSizeLimit)
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
const timer = setInterval(() => {
  try {
    checkpoint.get()
  } catch (err) {
    // SQLITE_BUSY (a backup, the sqlite3 shell): the next round tries again.
    if (err.code !== 'SQLITE_BUSY') throw err
  }
}, workerData.intervalMs)
parentPort.on('message', () => {
  clearInterval(timer)
  db.close()
  parentPort.postMessage('closed')
})
`

export interface CheckpointerOptions {
  file: string
  intervalMs: number
  walSizeLimit: number
  /** Called if the thread dies: the connection must checkpoint for itself again. */
  onFailure: (err: Error) => void
  watchErrors?: WatchErrors
}

/**
 * Checkpoints the WAL on a thread of its own, so the event loop never does. SQLite's automatic checkpoint runs
 * inside whichever COMMIT takes the WAL past 1,000 pages, and with synchronous NORMAL it fsyncs the database
 * file there: measured under 600 signups/s, 1 commit in 80 took over a millisecond (2.7 ms on average, 36% of all
 * commit time), each a stall of the event loop. The connection turns its automatic checkpoint off while this runs.
 */
export class Checkpointer {
  readonly #worker: Worker
  #closed = false

  constructor(options: CheckpointerOptions) {
    this.#worker = new Worker(checkpointThread, {
      eval: true,
      workerData: {
        file: options.file,
        intervalMs: options.intervalMs,
        walSizeLimit: options.walSizeLimit,
        sqliteModule: createRequire(import.meta.url).resolve('better-sqlite3'),
      },
    })
    // It must not keep the process alive.
    this.#worker.unref()
    this.#worker.on('error', (err) => {
      if (!this.#closed) options.onFailure(err)
    })
    options.watchErrors?.(this.#worker, 'worker', { thread: 'WAL checkpoint' })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const closed = new Promise((resolve) => {
      this.#worker.once('message', resolve)
      this.#worker.once('exit', resolve)
    })
    this.#worker.postMessage('close')
    await closed
    await this.#worker.terminate()
  }
}
