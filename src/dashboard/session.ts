import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** The cookie's name; it is sent only to /dashboard and below. */
export const SESSION_COOKIE = 'deckhand_dashboard'
const COOKIE_PATH = '/dashboard'

/**
 * The key that signs session cookies (@fastify/cookie's HMAC), derived from ADMIN_TOKEN: every api node of a
 * deployment accepts the others' cookies, and a new ADMIN_TOKEN ends every session at once. The token itself is
 * never in the cookie.
 */
export function sessionSecret(adminToken: string): string {
  return createHash('sha256').update('deckhand dashboard session\0').update(adminToken).digest('base64url')
}

/**
 * Whether the request came over https: directly, or through a proxy that says so. Trusting the header here can
 * only add `Secure`, which makes the cookie stricter, never weaker.
 */
function overHttps(request: FastifyRequest): boolean {
  const forwarded = request.headers['x-forwarded-proto']
  return request.protocol === 'https' || (typeof forwarded === 'string' && forwarded.split(',')[0]?.trim() === 'https')
}

/** Sets the signed session cookie: it holds only when the session ends, which the signature vouches for. */
export function startSession(request: FastifyRequest, reply: FastifyReply, lifetimeMs: number, now = Date.now()) {
  reply.setCookie(SESSION_COOKIE, String(now + lifetimeMs), {
    signed: true,
    httpOnly: true,
    sameSite: 'strict',
    secure: overHttps(request),
    path: COOKIE_PATH,
    maxAge: Math.floor(lifetimeMs / 1000),
  })
}

export function endSession(reply: FastifyReply) {
  reply.clearCookie(SESSION_COOKIE, { path: COOKIE_PATH })
}

/** When the request's session ends (epoch ms): undefined without an untampered cookie that has not expired. */
export function sessionEnd(request: FastifyRequest, now = Date.now()): number | undefined {
  const raw = request.cookies[SESSION_COOKIE]
  if (!raw) return undefined
  const { valid, value } = request.unsignCookie(raw)
  if (!valid || value === null || !/^\d{1,15}$/.test(value)) return undefined
  const end = Number(value)
  return end > now ? end : undefined
}

/** Whether the request carries an untampered session cookie that has not expired. */
export const hasSession = (request: FastifyRequest, now = Date.now()) => sessionEnd(request, now) !== undefined
