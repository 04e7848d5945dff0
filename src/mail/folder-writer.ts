import { Worker } from 'node:worker_threads'
import type { WatchErrors } from '../error-events.ts'
import { TurnBatch } from '../turn-batch.ts'

/*
 * The writing thread: plain JavaScript, so it needs no TypeScript loader. Each message is a batch of files; each
 * is written to its temporary name and renamed into place (a reader never sees half a message), the folder made
 * first if it is missing. The answer lists each file's error, if it had one.
 */
const writerThread = `
const fs = require('node:fs')
const path = require('node:path')
const { parentPort } = require('node:worker_threads')
const write = ({ file, data }) => {
  const tmp = path.join(path.dirname(file), '.' + path.basename(file) + '.tmp')
  fs.writeFileSync(tmp, data)
  fs.renameSync(tmp, file)
}
parentPort.on('message', ({ batch, files }) => {
  const errors = files.map((f) => {
    try {
      try {
        write(f)
      } catch (err) {
        if (err.code !== 'ENOENT') throw err
        fs.mkdirSync(path.dirname(f.file), { recursive: true })
        write(f)
      }
      return null
    } catch (err) {
      return { message: err.message, code: err.code }
    }
  })
  parentPort.postMessage({ batch, errors })
})
`

interface Pending {
  resolve: () => void
  reject: (err: Error) => void
}

interface Queued {
  file: string
  data: string
  waiter: Pending
}

/**
 * Writes files on a thread of its own, in batches: a turn's files, or all that came while the last batch was written. Through fs/promises every mail file
 * was four requests to libuv's threadpool (open, write, close, rename), and submitting them was a tenth of the
 * event loop under a signup flood (CPU profile of phase 3, README); here the whole turn's files are one message.
 * Nothing is fsynced: the job journal is the durable record, and a mail lost to a power cut is sent again.
 */
export class FolderWriter {
  readonly #watchErrors: WatchErrors | undefined
  #worker: Worker | undefined
  readonly #turn = new TurnBatch<Queued>((queued) => this.#send(queued))
  /** Files that came while a batch was being written. */
  #waiting: Queued[] = []
  readonly #inFlight = new Map<number, Pending[]>()
  #batches = 0

  constructor(watchErrors?: WatchErrors) {
    this.#watchErrors = watchErrors
  }

  /** Writes `data` to `file` (through a temporary name); resolves once it is in place. */
  write(file: string, data: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#turn.add({ file, data, waiter: { resolve, reject } })
    })
  }

  async close(): Promise<void> {
    const worker = this.#worker
    this.#worker = undefined
    // Nothing waits for a thread after this one: what had not gone out fails (its job is retried).
    const waiting = this.#waiting
    this.#waiting = []
    for (const { waiter } of waiting) waiter.reject(new Error('the mail folder writer stopped'))
    await worker?.terminate()
  }

  #send(queued: Queued[]): void {
    // One batch at a time: what arrives while the thread writes waits for its answer and goes as one message.
    // Under load the batches grow on their own; each message costs the event loop a wake-up of the thread.
    this.#waiting.push(...queued)
    if (this.#inFlight.size > 0) return
    const files = this.#waiting
    this.#waiting = []
    const batch = ++this.#batches
    // Held while it has work, so that a shutdown waiting on a mail waits for its file too; idle, it holds nothing.
    this.#thread().ref()
    this.#inFlight.set(
      batch,
      files.map((q) => q.waiter),
    )
    this.#thread().postMessage({ batch, files: files.map(({ file, data }) => ({ file, data })) })
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker
    const worker = new Worker(writerThread, { eval: true })
    this.#worker = worker
    worker.unref()
    worker.on(
      'message',
      ({ batch, errors }: { batch: number; errors: ({ message: string; code?: string } | null)[] }) => {
        const waiters = this.#inFlight.get(batch) ?? []
        this.#inFlight.delete(batch)
        if (this.#inFlight.size === 0) worker.unref()
        waiters.forEach((waiter, i) => {
          const error = errors[i]
          if (error) waiter.reject(Object.assign(new Error(error.message), error))
          else waiter.resolve()
        })
        if (this.#waiting.length > 0) this.#send([])
      },
    )
    // A thread that died fails what it held (those jobs are retried); the next write starts a new one.
    const lost = (err: Error) => {
      if (this.#worker === worker) this.#worker = undefined
      for (const waiters of this.#inFlight.values()) for (const waiter of waiters) waiter.reject(err)
      this.#inFlight.clear()
      // What waited for this thread goes to the next one.
      if (this.#waiting.length > 0) this.#send([])
    }
    worker.on('error', lost)
    worker.on('exit', () => lost(new Error('the mail folder writer stopped')))
    this.#watchErrors?.(worker, 'worker', { thread: 'mail folder writer' })
    return worker
  }
}
