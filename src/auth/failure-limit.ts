/*
 * Failed guesses of ADMIN_TOKEN (a wrong dashboard login, a wrong bearer token on /admin), counted per client
 * address in a fixed window: past `max`, the address is refused every attempt, right or wrong, until its window
 * ends, so that guessing cannot go on at full speed. Successes are never counted and clear the address's count.
 *
 * In this process's memory: each api counts its own (N apis give an address N times the budget). The map is
 * bounded: past `maxAddresses` the address whose window began first is forgotten, so an attacker with many
 * addresses cannot grow memory without end (each address still gets only `max` guesses a window).
 */
export class AuthFailureLimit {
  private readonly windows = new Map<string, { failures: number; resetAt: number }>()

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly maxAddresses = 10_000,
  ) {}

  /** Seconds until `address` may try again (for Retry-After); undefined when it may try now. */
  blockedFor(address: string, now = Date.now()): number | undefined {
    if (this.max === 0) return undefined
    const window = this.windows.get(address)
    if (!window || window.resetAt <= now || window.failures < this.max) return undefined
    return Math.max(1, Math.ceil((window.resetAt - now) / 1000))
  }

  /** Counts a failed attempt of `address`. */
  failed(address: string, now = Date.now()): void {
    if (this.max === 0) return
    const window = this.windows.get(address)
    if (window && window.resetAt > now) {
      window.failures++
      return
    }
    // A new window goes to the end of the map's order, so the first entry is always the one begun first.
    this.windows.delete(address)
    this.windows.set(address, { failures: 1, resetAt: now + this.windowMs })
    if (this.windows.size > this.maxAddresses) {
      const first = this.windows.keys().next()
      if (!first.done) this.windows.delete(first.value)
    }
  }

  /** A success: the address's count starts again. */
  succeeded(address: string): void {
    this.windows.delete(address)
  }

  /** Addresses counted now (for tests of the bound). */
  get size(): number {
    return this.windows.size
  }
}
