import type { Worker } from 'node:worker_threads'
import type { WatchErrors } from '../error-events.ts'
import { startWorkerThread } from '../worker-thread.ts'

/** What the fsync thread (workers/wal-sync.ts) is started with. */
export interface WalSyncData {
  /** The WAL file to fsync. */
  file: string
  /**
   * One Int32 on shared memory: the last round of sync() calls asked for. The thread fsyncs whenever it is ahead of
   * the last round it answered, and waits on it (Atomics.wait) when not.
   */
  asked: Int32Array
}

/** The answer to each fsync: the last round it covers, and the fsync's error if it failed. */
export interface WalSyncAnswer {
  round: number
  error?: { message: string; code?: string }
}

/** A round of sync() calls: those of one stretch of the event loop, which share one promise. */
interface Round {
  round: number
  /** When its first call asked (performance.now()): the fsync histogram is how long its commits waited. */
  at: number
  done: Promise<void>
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * Makes SQLite commits durable without the event loop waiting on the disk. The connection commits with
 * synchronous NORMAL (the WAL is written, not fsynced); whoever must not acknowledge before the data is on disk
 * awaits `sync()`, which the WAL's own thread serves. The calls of one stretch of the event loop are one round; the
 * thread reads the last round asked for, fsyncs, and answers that every round up to it is on disk, so each caller
 * waits for an fsync that began after it asked, and the callers that come while one runs share the next (a group
 * commit). The rounds are asked through shared memory, not a message: a message woke the thread for each fsync, and
 * under a signup flood the main thread lost its core at each wake-up (`postMessage` was 6% of its time in a CPU profile
 * of phase 4, src/bench/RESULTS.md). Now the thread, busy, goes on to the next fsync without being woken.
 */
export class WalSyncer {
  readonly #worker: Worker
  readonly #asked = new Int32Array(new SharedArrayBuffer(4))
  /** The round that calls of this stretch of the event loop join, until it is asked of the thread. */
  #open: Round | undefined
  #round = 0
  /** The rounds asked for and not yet answered, oldest first (the open one last). */
  #waiting: Round[] = []
  /** Why no fsync can be done any more: the thread died, or the database was closed. */
  #stopped: Error | undefined
  #requested = 0
  #fsyncs = 0
  readonly #listeners: ((seconds: number) => void)[] = []

  /** `watchErrors` logs and counts the thread's death; the commits it was serving fail either way. */
  constructor(walFile: string, watchErrors?: WatchErrors) {
    // The thread (workers/wal-sync.ts) opens the WAL file once and fsyncs it for each round asked.
    const workerData: WalSyncData = { file: walFile, asked: this.#asked }
    this.#worker = startWorkerThread(new URL('../../workers/wal-sync.ts', import.meta.url), { workerData })
    // Idle between syncs, it must not keep the process alive.
    this.#worker.unref()
    this.#worker.on('message', (answer: WalSyncAnswer) => this.#settle(answer))
    this.#worker.on('error', (err) => this.#stop(err))
    watchErrors?.(this.#worker, 'worker', { thread: 'WAL fsync' })
  }

  /** Resolves once every commit made before this call is on disk. */
  sync(): Promise<void> {
    this.#requested++
    if (this.#stopped) return Promise.reject(this.#stopped)
    if (this.#open) return this.#open.done
    const { promise, resolve, reject } = withResolvers()
    const round: Round = { round: ++this.#round, at: performance.now(), done: promise, resolve, reject }
    this.#open = round
    if (this.#waiting.length === 0) this.#worker.ref()
    this.#waiting.push(round)
    // After this stretch's other calls: they join the round, and the thread hears of it once.
    queueMicrotask(() => this.#ask())
    return promise
  }

  /** Calls to sync() and the fsyncs that served them, for tests and metrics. */
  stats(): { requested: number; fsyncs: number } {
    return { requested: this.#requested, fsyncs: this.#fsyncs }
  }

  /**
   * Calls `listener` with each fsync's time as its commits waited for it: from the first of them asking to the
   * thread's answer (the wait for an fsync under way, and the thread's wake-up, included). A disk whose fsync stalls
   * holds every acceptance behind it while the event loop is idle; this is where that shows.
   */
  onFsync(listener: (seconds: number) => void): void {
    this.#listeners.push(listener)
  }

  async close(): Promise<void> {
    await this.#worker.terminate()
    this.#stop(new Error('the database is closed'))
  }

  #ask(): void {
    const round = this.#open?.round
    this.#open = undefined
    if (this.#stopped || round === undefined) return
    Atomics.store(this.#asked, 0, round)
    // Wakes the thread only if it waits: busy, it reads the round when its fsync is done.
    Atomics.notify(this.#asked, 0)
  }

  #settle({ round, error }: WalSyncAnswer): void {
    this.#fsyncs++
    let served = 0
    while (served < this.#waiting.length && (this.#waiting[served] as Round).round <= round) served++
    const covered = this.#waiting.splice(0, served)
    if (this.#waiting.length === 0) this.#worker.unref()
    // A failed fsync (EIO, ENOSPC) fails every commit it covered: their clients hear an error, not "accepted".
    const failed = error && Object.assign(new Error(`fsync failed: ${error.message}`), error)
    for (const each of covered) {
      if (failed) each.reject(failed)
      else each.resolve()
    }
    // After the commits are settled: what watches the fsyncs never holds them.
    const first = covered[0]
    if (first) for (const listener of this.#listeners) listener((performance.now() - first.at) / 1000)
  }

  /** Fails the fsyncs waited for, and every one asked for after them. */
  #stop(err: Error): void {
    this.#stopped ??= err
    for (const each of this.#waiting.splice(0)) each.reject(err)
    this.#open = undefined
    this.#worker.unref()
  }
}

// Promise.withResolvers, which Node 20 lacks.
function withResolvers(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve = () => {}
  let reject: (err: Error) => void = () => {}
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
