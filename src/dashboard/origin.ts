import type { FastifyRequest } from 'fastify'
import { CrossOriginError } from '../errors.ts'

// URL drops a scheme's default port from an Origin; a Host header may still carry it.
const withoutDefaultPort = (host: string) => host.toLowerCase().replace(/:(80|443)$/, '')

/**
 * Refuses a state-changing request that did not come from a page of this host. SameSite=Strict already keeps the
 * cookie off other sites' requests; this is the second lock, and it covers a sibling subdomain too. The scheme is
 * not compared: behind a TLS-terminating proxy the page is https while deckhand sees http.
 */
export function assertSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin
  let host: string | undefined
  try {
    host = origin ? new URL(origin).host : undefined
  } catch {
    host = undefined
  }
  if (host === undefined || withoutDefaultPort(host) !== withoutDefaultPort(request.host)) {
    throw new CrossOriginError(request.host, origin ?? '(none)')
  }
}
