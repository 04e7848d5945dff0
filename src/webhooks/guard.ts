import type { LookupAddress } from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import type { Duplex } from 'node:stream'
import { addressRefusal, isAddress } from './address-policy.ts'

/** A connection the guard would not make: the address it was to go to, and why not. */
export class TargetRefusedError extends Error {
  override name = 'TargetRefusedError'
  constructor(
    readonly address: string,
    readonly reason: string,
  ) {
    super(`${address} is refused: ${reason}`)
  }
}

export interface GuardOptions {
  /** WEBHOOK_ALLOW_PRIVATE: any address (development and tests). */
  allowPrivate: boolean
  /** Resolves a host name: every address it returns is checked before any is connected to. */
  lookup: LookupFunction
}

/**
 * The SSRF guard: agents that check the address of each connection before making it, the host's own when it is
 * written as an address, or every address DNS returns for its name, by the rule a URL is checked by at PUT
 * (address-policy.ts). Checked at connect time, so a name that pointed somewhere public when the webhook was set
 * and points inside now is refused too.
 */
export function guardedAgents(options: GuardOptions): { 'http:': http.Agent; 'https:': https.Agent } {
  return { 'http:': new GuardedHttpAgent(options), 'https:': new GuardedHttpsAgent(options) }
}

type Connect = (options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void) => unknown

// No keep-alive: deliveries go to many hosts, few twice in a row, and an idle socket per host is not worth it.
class GuardedHttpAgent extends http.Agent {
  constructor(readonly guard: GuardOptions) {
    super({ keepAlive: false })
  }
  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, s: Duplex) => void) {
    return guardedConnection(this.guard, options, callback, super.createConnection.bind(this) as Connect)
  }
}

class GuardedHttpsAgent extends https.Agent {
  constructor(readonly guard: GuardOptions) {
    super({ keepAlive: false })
  }
  override createConnection(options: https.RequestOptions, callback?: (err: Error | null, s: Duplex) => void) {
    return guardedConnection(this.guard, options, callback, super.createConnection.bind(this) as Connect)
  }
}

function guardedConnection(
  guard: GuardOptions,
  options: http.ClientRequestArgs,
  callback: ((err: Error | null, s: Duplex) => void) | undefined,
  connect: Connect,
): Duplex | null | undefined {
  if (guard.allowPrivate) return connect({ ...options, lookup: guard.lookup }, callback) as Duplex
  const host = options.host ?? options.hostname ?? ''
  if (isAddress(host)) {
    // Connected to as it is: no lookup will be asked.
    const reason = addressRefusal(host)
    if (reason) {
      const refused = new TargetRefusedError(host, reason)
      // http.Agent always passes its callback: the request fails with the error and no socket is made.
      if (!callback) throw refused
      callback(refused, undefined as never)
      return undefined
    }
  }
  return connect({ ...options, lookup: checkedLookup(guard.lookup) }, callback) as Duplex
}

/** `lookup`, answering with its addresses only when every one of them may be connected to. */
function checkedLookup(lookup: LookupFunction): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, options, (err, address, family) => {
      if (err) return callback(err, '', 0)
      const all: LookupAddress[] = typeof address === 'string' ? [{ address, family: family ?? 4 }] : address
      for (const { address: one } of all) {
        const reason = addressRefusal(one)
        if (reason) return callback(new TargetRefusedError(one, reason) as NodeJS.ErrnoException, '', 0)
      }
      return callback(null, address as string, family)
    })
  }
}
