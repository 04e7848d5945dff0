import type { FastifyInstance } from 'fastify'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Security headers on every answer; the API serves JSON and images, never pages, so its CSP forbids everything.
 * Without `useDefaults: false` helmet adds its page-oriented defaults (script-src 'self', style-src with
 * 'unsafe-inline', upgrade-insecure-requests…) to these two. /docs and /dashboard set their own.
 */
export const helmetOptions: HelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
}

/**
 * helmet's middleware, built once and run on every request. @fastify/helmet built it anew for each request (the
 * options read, the CSP written out again): 2–3% of the event loop in a signup flood's CPU profile
 * (src/bench/RESULTS.md, what was tried). The headers are the same either way.
 */
export function addSecurityHeaders(app: FastifyInstance, options: HelmetOptions = helmetOptions): void {
  const apply = helmet(options)
  app.addHook('onRequest', (request, reply, done) => {
    apply(request.raw, reply.raw, (err) => done(err as Error | undefined))
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
