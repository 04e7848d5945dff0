export type WaitEnd = 'settled' | 'timeout' | 'aborted' | 'closed' | 'full'

/**
 * Requests waiting for a job to finish (`GET /jobs/:id` with `Prefer: wait=N`), woken when the store says the
 * job settled, so clients need not poll. Bounded: past `max` waiting requests in all, or `perOwner` of one
 * owner's (so that one user cannot hold every slot), wait() ends at once with 'full'.
 */
export class JobWaiters {
  readonly #byJob = new Map<string, Set<(end: WaitEnd) => void>>()
  readonly #byOwner = new Map<string, number>()
  #size = 0
  #closed = false

  constructor(
    readonly max: number,
    readonly perOwner: number = max,
  ) {}

  /** Requests waiting now. */
  get size(): number {
    return this.#size
  }

  /**
   * Ends when the job settles, after `ms`, on abort, or when the service closes, whichever comes first.
   * `owner` is whose request this is, for the fair share.
   */
  wait(id: string, ms: number, signal?: AbortSignal, owner = ''): Promise<WaitEnd> {
    if (this.#closed) return Promise.resolve('closed')
    if (signal?.aborted) return Promise.resolve('aborted')
    const owned = this.#byOwner.get(owner) ?? 0
    if (this.#size >= this.max || owned >= this.perOwner) return Promise.resolve('full')
    return new Promise<WaitEnd>((resolve) => {
      const set = this.#byJob.get(id) ?? new Set()
      this.#byJob.set(id, set)
      this.#size++
      this.#byOwner.set(owner, owned + 1)
      const end = (how: WaitEnd) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        set.delete(end)
        if (set.size === 0 && this.#byJob.get(id) === set) this.#byJob.delete(id)
        this.#size--
        const left = (this.#byOwner.get(owner) ?? 1) - 1
        if (left === 0) this.#byOwner.delete(owner)
        else this.#byOwner.set(owner, left)
        resolve(how)
      }
      const onAbort = () => end('aborted')
      const timer = setTimeout(() => end('timeout'), ms)
      signal?.addEventListener('abort', onAbort, { once: true })
      set.add(end)
    })
  }

  /** The job reached a final state (or may have): whoever waits on it looks again. */
  settled(id: string): void {
    const set = this.#byJob.get(id)
    if (set) for (const end of [...set]) end('settled')
  }

  /** Shutdown: every waiting request is answered with what it has, and no new one waits. */
  close(): void {
    this.#closed = true
    for (const set of [...this.#byJob.values()]) for (const end of [...set]) end('closed')
  }
}

/**
 * The seconds a client asked to wait, from RFC 7240's `Prefer: wait=N` (other preferences in the header are
 * ignored, as the RFC says unknown ones must be). Undefined when it did not ask.
 */
export function preferredWaitSeconds(prefer: string | string[] | undefined): number | undefined {
  const values = Array.isArray(prefer) ? prefer : prefer === undefined ? [] : [prefer]
  for (const value of values) {
    for (const token of value.split(',')) {
      const match = /^\s*wait\s*=\s*"?(\d{1,9})"?\s*(;.*)?$/i.exec(token)
      if (match) return Number(match[1])
    }
  }
  return undefined
}
