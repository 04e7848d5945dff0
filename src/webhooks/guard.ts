import type { Agent } from 'node:http'
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent'

/**
 * The SSRF guard: agents that check the address each connection's DNS lookup returns (and an address given as
 * the host) before connecting, and refuse loopback, private, link-local (169.254.169.254, the cloud metadata
 * service), CGNAT, multicast, unspecified and the other reserved ranges of IPv4 and IPv6 (request-filtering-agent,
 * over ipaddr.js: anything that is not public unicast). Checked at connect time, so a name that pointed somewhere
 * public when the webhook was set and points inside now is refused too.
 */
export function guardedAgents(allowPrivate: boolean): { 'http:': Agent; 'https:': Agent } {
  // No keep-alive: deliveries go to many hosts, few twice in a row, and an idle socket per host is not worth it.
  const options = { allowPrivateIPAddress: allowPrivate, keepAlive: false }
  return { 'http:': new RequestFilteringHttpAgent(options), 'https:': new RequestFilteringHttpsAgent(options) }
}

/** Whether a request failed because the guard refused the address (request-filtering-agent's words). */
export const refusedByGuard = (err: unknown) => /\bis not allowed\b/.test((err as Error)?.message ?? '')
