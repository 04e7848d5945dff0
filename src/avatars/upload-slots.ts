import { UploadsInFlightError } from '../errors.ts'

export interface UploadSlotLimits {
  /** Uploads one user may have in flight at once; 0 is no limit. */
  perUser: number
  /** Uploads one client address may have in flight at once; 0 is no limit. */
  perAddress: number
}

/**
 * Uploads being received right now, in this process. A slot is taken before the first byte of the body is
 * read and given back however the request ends, so that uploads on the wire count against the backpressure
 * limit like the jobs they will become, and one user or one address cannot hold the disk and the sockets
 * with hundreds of large bodies at once.
 */
export class UploadSlots {
  readonly #byUser = new Map<string, number>()
  readonly #byAddress = new Map<string, number>()
  #total = 0

  constructor(readonly limits: UploadSlotLimits) {}

  /** Uploads in flight now. */
  get inFlight(): number {
    return this.#total
  }

  /** This user's uploads in flight now. */
  inFlightOf(userId: string): number {
    return this.#byUser.get(userId) ?? 0
  }

  /** Takes a slot, or throws UPLOADS_IN_FLIGHT (429). The returned function gives it back; calling it twice is harmless. */
  take(userId: string, address: string): () => void {
    const { perUser, perAddress } = this.limits
    if (perUser > 0 && (this.#byUser.get(userId) ?? 0) >= perUser) {
      throw new UploadsInFlightError(`${perUser} of this user's uploads are still arriving`)
    }
    if (perAddress > 0 && (this.#byAddress.get(address) ?? 0) >= perAddress) {
      throw new UploadsInFlightError(`${perAddress} uploads from this address are still arriving`)
    }
    add(this.#byUser, userId, 1)
    add(this.#byAddress, address, 1)
    this.#total++
    let given = false
    return () => {
      if (given) return
      given = true
      add(this.#byUser, userId, -1)
      add(this.#byAddress, address, -1)
      this.#total--
    }
  }
}

function add(counts: Map<string, number>, key: string, n: number): void {
  const next = (counts.get(key) ?? 0) + n
  if (next === 0) counts.delete(key)
  else counts.set(key, next)
}
