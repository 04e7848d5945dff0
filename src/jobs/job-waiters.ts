export type WaitEnd = 'settled' | 'timeout' | 'aborted' | 'closed' | 'full'

/**
 * Requests waiting for a job to finish (`GET /jobs/:id` with `Prefer: wait=N`), woken when the store says the
 * job settled, so clients need not poll; and open event streams (`GET /jobs/:id/events`), which hold a slot of
 * the same budget for as long as they last. Bounded: past `max` in all, or `perOwner` of one owner's (so that one
 * user cannot hold every slot), wait() ends at once with 'full' and hold() refuses.
 */
export class JobWaiters {
  readonly #byJob = new Map<string, Set<(end: WaitEnd) => void>>()
  readonly #byOwner = new Map<string, number>()
  /** What ends each held slot at shutdown. */
  readonly #held = new Set<() => void>()
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
    if (!this.#take(owner)) return Promise.resolve('full')
    return new Promise<WaitEnd>((resolve) => {
      const set = this.#byJob.get(id) ?? new Set()
      this.#byJob.set(id, set)
      const end = (how: WaitEnd) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        set.delete(end)
        if (set.size === 0 && this.#byJob.get(id) === set) this.#byJob.delete(id)
        this.#give(owner)
        resolve(how)
      }
      const onAbort = () => end('aborted')
      const timer = setTimeout(() => end('timeout'), ms)
      signal?.addEventListener('abort', onAbort, { once: true })
      set.add(end)
    })
  }

  /**
   * Takes a slot until the returned release is called (an event stream, for as long as it is open); undefined
   * when the budget is spent or the service is closing. `onClose` is called if the service closes first.
   */
  hold(owner: string, onClose: () => void): (() => void) | undefined {
    if (this.#closed || !this.#take(owner)) return undefined
    let released = false
    const release = () => {
      if (released) return
      released = true
      this.#held.delete(onClose)
      this.#give(owner)
    }
    this.#held.add(onClose)
    return release
  }

  /** Counts a slot of `owner`'s; false when none is left. */
  #take(owner: string): boolean {
    const owned = this.#byOwner.get(owner) ?? 0
    if (this.#size >= this.max || owned >= this.perOwner) return false
    this.#size++
    this.#byOwner.set(owner, owned + 1)
    return true
  }

  #give(owner: string): void {
    this.#size--
    const left = (this.#byOwner.get(owner) ?? 1) - 1
    if (left === 0) this.#byOwner.delete(owner)
    else this.#byOwner.set(owner, left)
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
    for (const onClose of [...this.#held]) onClose()
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
