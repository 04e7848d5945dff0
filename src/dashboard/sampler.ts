import type { Readings } from './readings.ts'
import type { Sample } from './sample.ts'

export interface SamplerOptions {
  intervalMs: number
  /** Samples kept for a page that opens: 600 at one a second is the last 10 minutes. */
  keep: number
  onError(err: unknown): void
}

/**
 * Takes one sample a second while at least one dashboard is open, and none at all otherwise: with nobody
 * watching there is no timer and no queue query, so a load test of the service measures
 * the service. The last samples are kept for the next page that opens, so the charts show what was seen.
 */
export class Sampler {
  private readonly kept: Sample[] = []
  private readonly listeners = new Set<(sample: Sample) => void>()
  private timer: NodeJS.Timeout | undefined
  private reading = false

  constructor(
    private readonly readings: Readings,
    private readonly options: SamplerOptions,
  ) {}

  /** The samples kept, oldest first. */
  get samples(): readonly Sample[] {
    return this.kept
  }

  get running(): boolean {
    return this.timer !== undefined
  }

  /** Hears every sample from now on; sampling runs while anyone listens. Returns the unsubscribe. */
  subscribe(listener: (sample: Sample) => void): () => void {
    this.listeners.add(listener)
    if (!this.timer) {
      this.readings.begin()
      this.timer = setInterval(() => void this.tick(), this.options.intervalMs)
      // Sampling never keeps the process alive on its own.
      this.timer.unref()
      void this.tick()
    }
    return () => {
      this.listeners.delete(listener)
      if (this.listeners.size === 0) this.stop()
    }
  }

  stop(): void {
    this.listeners.clear()
    if (!this.timer) return
    clearInterval(this.timer)
    this.timer = undefined
    this.readings.end()
  }

  private async tick(): Promise<void> {
    // A slow queue (Redis under load) must not pile reads up: that second is skipped instead.
    if (this.reading) return
    this.reading = true
    try {
      const sample = await this.readings.read(Date.now())
      if (!this.timer) return
      this.kept.push(sample)
      if (this.kept.length > this.options.keep) this.kept.splice(0, this.kept.length - this.options.keep)
      for (const listener of this.listeners) listener(sample)
    } catch (err) {
      this.options.onError(err)
    } finally {
      this.reading = false
    }
  }
}
