import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { Logger } from 'pino'

/** One part of a sweep. Works in bounded batches and gives up at the next one once `stopping()` is true. */
export interface SweepTask {
  name: string
  run(stopping: () => boolean): Promise<void>
}

/** What every sweep task takes besides its own settings. */
export interface SweepTaskOptions {
  log: Logger
  /** The time; tests move it instead of waiting. */
  clock?: () => number
}

/** Lets requests, claims and timers run between two batches of a sweep. */
export const betweenBatches = (): Promise<void> => yieldToEventLoop()

/**
 * Runs sweep tasks (retention, orphaned files, free pages) every `intervalMs`, one sweep at a time: the next is
 * scheduled when the last one ends, so a slow sweep never piles up behind itself. A task that throws (a full
 * disk, a database away) is logged and tried again at the next sweep. Shutdown never waits on a long sweep:
 * `stop()` raises the flag tasks check between batches and waits only for the batch under way.
 */
export class Sweeper {
  readonly #intervalMs: number
  readonly #tasks: readonly SweepTask[]
  readonly #log: Logger
  #timer: NodeJS.Timeout | undefined
  #current: Promise<void> | undefined
  #started = false
  #stopped = false

  constructor(intervalMs: number, tasks: readonly SweepTask[], log: Logger) {
    this.#intervalMs = intervalMs
    this.#tasks = tasks
    this.#log = log
  }

  /** The first sweep runs one interval from now (not at start-up, which has enough to do). */
  start(): void {
    if (this.#started || this.#stopped) return
    this.#started = true
    this.#schedule()
  }

  /** Sweeps now, or joins the sweep under way. */
  sweep(): Promise<void> {
    this.#current ??= this.#runTasks().finally(() => {
      this.#current = undefined
    })
    return this.#current
  }

  /** No further sweeps; the one under way stops at its next batch. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#current
  }

  #schedule(): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      void this.sweep().then(() => this.#schedule())
    }, this.#intervalMs)
    // An idle timer must not keep the process alive.
    this.#timer.unref()
  }

  async #runTasks(): Promise<void> {
    const stopping = () => this.#stopped
    for (const task of this.#tasks) {
      if (stopping()) return
      try {
        await task.run(stopping)
      } catch (err) {
        this.#log.error({ err, task: task.name }, 'sweep failed; will try again at the next one')
      }
    }
  }
}
