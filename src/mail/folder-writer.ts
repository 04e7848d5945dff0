import type { Worker } from 'node:worker_threads'
import type { WatchErrors } from '../error-events.ts'
import { TurnBatch } from '../turn-batch.ts'
import { startWorkerThread } from '../worker-thread.ts'
import type { Mailbox, MailParts } from './compose.ts'

/** What goes to and from the writing thread (workers/mail-folder-writer.ts). */
export interface WriteFile {
  file: string
  /** Composed into its message on the thread (composeMail), dated when it is written. */
  mail: MailParts
}

/** What the thread is started with. */
export interface WriterData {
  from: Mailbox
}

/** A batch of files to write; the answer carries the same `batch` and one error (or null) a file, in order. */
export interface WriteRequest {
  batch: number
  files: WriteFile[]
}

export interface WriteAnswer {
  batch: number
  errors: ({ message: string; code?: string } | null)[]
}

interface Pending {
  resolve: () => void
  reject: (err: Error) => void
}

interface Queued {
  file: string
  mail: MailParts
  waiter: Pending
}

/**
 * Composes and writes mail files on a thread of its own, in batches: a turn's mails, or all that came while the
 * last batch was written. Through fs/promises every mail file was four requests to libuv's threadpool (open, write,
 * close, rename), and submitting them showed in a signup flood's CPU profile (src/bench/RESULTS.md, what was tried);
 * here the whole turn's mails are one message. Composing a message took the event loop about 20 µs a mail, and
 * posting it 5 µs, where posting its parts costs 1–2 µs: so the thread composes them too.
 * Nothing is fsynced: the job journal is the durable record, and a mail lost to a power cut is sent again.
 */
export class FolderWriter {
  readonly #from: Mailbox
  readonly #watchErrors: WatchErrors | undefined
  #worker: Worker | undefined
  readonly #turn = new TurnBatch<Queued>((queued) => this.#send(queued))
  /** Files that came while a batch was being written. */
  #waiting: Queued[] = []
  readonly #inFlight = new Map<number, Pending[]>()
  #batches = 0

  constructor(from: Mailbox, watchErrors?: WatchErrors) {
    this.#from = from
    this.#watchErrors = watchErrors
  }

  /** Writes `mail`'s message to `file` (through a temporary name); resolves once it is in place. */
  write(file: string, mail: MailParts): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#turn.add({ file, mail, waiter: { resolve, reject } })
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
    const request: WriteRequest = { batch, files: files.map(({ file, mail }) => ({ file, mail })) }
    this.#thread().postMessage(request)
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker
    // The thread (workers/mail-folder-writer.ts) writes each file to a temporary name and renames it into place.
    const workerData: WriterData = { from: this.#from }
    const worker = startWorkerThread(new URL('../../workers/mail-folder-writer.ts', import.meta.url), { workerData })
    this.#worker = worker
    worker.unref()
    worker.on('message', ({ batch, errors }: WriteAnswer) => {
      const waiters = this.#inFlight.get(batch) ?? []
      this.#inFlight.delete(batch)
      if (this.#inFlight.size === 0) worker.unref()
      waiters.forEach((waiter, i) => {
        const error = errors[i]
        if (error) waiter.reject(Object.assign(new Error(error.message), error))
        else waiter.resolve()
      })
      if (this.#waiting.length > 0) this.#send([])
    })
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
