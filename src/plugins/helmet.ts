import helmet, { type FastifyHelmetOptions } from '@fastify/helmet'

/**
 * Security headers on every answer; the API serves JSON and images, never pages, so its CSP forbids everything.
 * Without `useDefaults: false` helmet adds its page-oriented defaults (script-src 'self', style-src with
 * 'unsafe-inline', upgrade-insecure-requests…) to these two. /docs and /dashboard set their own.
 */
export const helmetOptions: FastifyHelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
}

export default helmet

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
