import type { Readings } from './readings.ts'
import type { Sample } from './sample.ts'

export interface SamplerOptions {
  intervalMs: number
  /** Samples kept for a page that opens: 600 at one a second is the last 10 minutes. */
  keep: number
  onError(err: unknown): void
}

/**
 * Takes one sample a second from start() to stop(), into a ring of the last `keep`, so that a page opened (or
 * opened again) shows the minutes before it at once. While no page is open a sample is only what the process
 * already holds in memory (see Readings.read): no queue query, no call to a worker, so a load test of the service
 * measures the service; those charts have a gap for that time.
 */
export class Sampler {
  private readonly ring: (Sample | undefined)[]
  private next = 0
  private readonly listeners = new Set<(sample: Sample) => void>()
  private timer: NodeJS.Timeout | undefined
  private reading = false

  constructor(
    private readonly readings: Readings,
    private readonly options: SamplerOptions,
  ) {
    this.ring = new Array(options.keep).fill(undefined)
  }

  /** The samples kept, oldest first. */
  get samples(): Sample[] {
    const { ring, next } = this
    return [...ring.slice(next), ...ring.slice(0, next)].filter((s): s is Sample => s !== undefined)
  }

  get running(): boolean {
    return this.timer !== undefined
  }

  /** Whether a page listens: then samples are whole. */
  get watched(): boolean {
    return this.listeners.size > 0
  }

  start(): void {
    if (this.timer) return
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs)
    // Sampling never keeps the process alive on its own.
    this.timer.unref()
    void this.tick()
  }

  /** Hears every sample from now on. Returns the unsubscribe. */
  subscribe(listener: (sample: Sample) => void): () => void {
    this.listeners.add(listener)
    // The first page gets a whole sample (queues, workers) now rather than up to a second later, and the next ones
    // a second apart from it.
    if (this.listeners.size === 1 && this.timer) {
      clearInterval(this.timer)
      this.timer = undefined
      this.start()
    }
    return () => {
      this.listeners.delete(listener)
    }
  }

  stop(): void {
    this.listeners.clear()
    if (!this.timer) return
    clearInterval(this.timer)
    this.timer = undefined
  }

  private async tick(): Promise<void> {
    // A slow queue (Redis under load) must not pile reads up: that second is skipped instead.
    if (this.reading) return
    this.reading = true
    try {
      const sample = await this.readings.read(Date.now(), this.watched)
      if (!this.timer) return
      this.ring[this.next] = sample
      this.next = (this.next + 1) % this.ring.length
      for (const listener of this.listeners) listener(sample)
    } catch (err) {
      this.options.onError(err)
    } finally {
      this.reading = false
    }
  }
}
