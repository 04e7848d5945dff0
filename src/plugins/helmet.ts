import type { FastifyInstance } from 'fastify'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Security headers on every answer; the API serves JSON and images, never pages, so its CSP forbids everything.
 * Without `useDefaults: false` helmet adds its page-oriented defaults (script-src 'self', style-src with
 * 'unsafe-inline', upgrade-insecure-requests…) to these two. /docs and /dashboard set their own.
 */
const helmetOptions: HelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
}

/**
 * helmet's headers, worked out once and set on every answer. @fastify/helmet built helmet's middleware anew for each
 * request, and helmet's CSP middleware writes its header out again on each call (its directives may be functions
 * of the request; these are not): together 2–3% of the event loop in a signup flood's CPU profile
 * (src/bench/RESULTS.md, what was tried). The headers are the same ones.
 */
export function addSecurityHeaders(app: FastifyInstance): void {
  const csp = helmetOptions.contentSecurityPolicy
  const directives = typeof csp === 'object' ? Object.values(csp.directives ?? {}).flat() : []
  if (directives.some((value) => typeof value === 'function')) {
    throw new Error('a CSP directive computed per request (a nonce) needs helmet run per request, not headers kept')
  }
  const headers: [string, string][] = []
  const recorder = {
    setHeader: (name: string, value: unknown) => {
      headers.push([name, String(value)])
    },
    // Helmet removes X-Powered-By, which Fastify never sets.
    removeHeader: () => {},
  }
  helmet(helmetOptions)({} as never, recorder as never, (err?: unknown) => {
    if (err) throw err
  })
  // On the raw response, where helmet set them: whatever writes the answer (Fastify, an event stream) sends them.
  app.addHook('onRequest', (_request, reply, done) => {
    for (const [name, value] of headers) reply.raw.setHeader(name, value)
    done()
  })
}

/**
 * The dashboard's pages (GET /dashboard) load their own scripts, styles and event stream and nothing else: no
 * inline script or style element, no other host, no frame. uPlot styles its canvases through the CSSOM, which
 * style-src does not govern.
 */
export const dashboardCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ')
