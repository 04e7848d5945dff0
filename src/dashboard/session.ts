import type { FastifyReply, FastifyRequest } from 'fastify'

/** The cookie's name; it is sent only to /dashboard and below. */
export const SESSION_COOKIE = 'deckhand_dashboard'
const COOKIE_PATH = '/dashboard'

/**
 * Whether the request came over https: directly, or through a proxy that says so. Trusting the header here can
 * only add `Secure`, which makes the cookie stricter, never weaker.
 */
function overHttps(request: FastifyRequest): boolean {
  const forwarded = request.headers['x-forwarded-proto']
  return request.protocol === 'https' || (typeof forwarded === 'string' && forwarded.split(',')[0]?.trim() === 'https')
}

/**
 * Sets the session cookie: the random session id (see sessions.ts), which the server looks up on every request.
 * Nothing in it is signed or derived from ADMIN_TOKEN.
 */
export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, id: string, lifetimeMs: number) {
  reply.setCookie(SESSION_COOKIE, id, {
    httpOnly: true,
    sameSite: 'strict',
    secure: overHttps(request),
    path: COOKIE_PATH,
    maxAge: Math.floor(lifetimeMs / 1000),
  })
}

export function clearSessionCookie(reply: FastifyReply) {
  reply.clearCookie(SESSION_COOKIE, { path: COOKIE_PATH })
}

/** The session id the request's cookie carries, if any (unchecked: sessions.ts says whether it is one). */
export const sessionCookie = (request: FastifyRequest): string | undefined => request.cookies[SESSION_COOKIE]
