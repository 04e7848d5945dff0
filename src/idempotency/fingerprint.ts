import { createHash } from 'node:crypto'

/** What makes two requests "the same request" for an Idempotency-Key. */
export interface RequestIdentity {
  method: string
  /** The route's pattern (`/users/:id/avatar`), not its path: the owner says whose. */
  route: string
  /** The user acting, or '' where there is none yet (a signup). */
  owner: string
  /** What the body holds, as the route reads it: the validated fields, or a digest of the bytes and form fields. */
  body: string
}

/** A digest of a request's identity: a retry has the same one, another request (almost surely) not. */
export function requestFingerprint(request: RequestIdentity): string {
  const { method, route, owner, body } = request
  // JSON's quoting keeps the parts apart: no two different lists of strings give the same text.
  return createHash('sha256')
    .update(JSON.stringify([method, route, owner, body]))
    .digest('base64url')
}
