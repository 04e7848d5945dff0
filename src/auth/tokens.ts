import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { UnauthorizedError } from '../errors.ts'
import { randomBase64url } from '../random-pool.ts'

/*
 * A token is "<user id>.<secret>" (a split token): the id finds the row, the secret is checked against its
 * stored hash in constant time, so no database lookup ever depends on the secret itself.
 */
const TOKEN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/

/** The credentials of `Authorization: Bearer <credentials>`; the scheme is case-insensitive (RFC 9110 §11.1). */
export function bearerCredentials(header: string | undefined): string | undefined {
  return header ? /^bearer +(\S+) *$/i.exec(header)?.[1] : undefined
}

/** A new token for a user: 256 random bits after the id. Handed to the client once, never stored. */
export function newToken(userId: string): { token: string; hash: Buffer } {
  const secret = randomBase64url(32)
  return { token: `${userId}.${secret}`, hash: hashSecret(secret) }
}

/**
 * The token of a signup sent with an Idempotency-Key, made so that its retry can be given it again without the
 * token ever being stored: the secret is HMAC-SHA256 keyed with the Idempotency-Key over the user id and a random
 * salt. The database keeps the salt and a hash of the key, so it cannot make the token; the client's retry brings
 * the key, so it can. As strong as the key is unguessable (README, Guarantees).
 */
export function derivedToken(userId: string, idempotencyKey: string, salt: string): { token: string; hash: Buffer } {
  const secret = createHmac('sha256', idempotencyKey).update(`${userId}.${salt}`).digest('base64url')
  return { token: `${userId}.${secret}`, hash: hashSecret(secret) }
}

/**
 * What the database keeps instead of the secret. Plain SHA-256 suffices: the secret is random and long,
 * so there is nothing to brute-force that a slow hash would protect.
 */
function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest()
}

/**
 * A check for a configured secret such as ADMIN_TOKEN: digests of equal length compared in constant time, so
 * neither the length nor a prefix of the secret leaks through timing. With no secret configured nothing matches.
 */
export function configuredTokenCheck(secret: string | undefined): (header: string | undefined) => boolean {
  const matches = configuredSecretCheck(secret)
  return (header) => matches(bearerCredentials(header))
}

/** The same check for the secret itself (the dashboard's login form sends it in a body, not a header). */
export function configuredSecretCheck(secret: string | undefined): (given: string | undefined) => boolean {
  const expected = secret === undefined ? undefined : hashSecret(secret)
  return (given) => expected !== undefined && given !== undefined && timingSafeEqual(hashSecret(given), expected)
}

/**
 * Whoever holds a token: found by the id before the dot, checked by the hash of the secret after it. Generic, so
 * that auth/ needs nothing of users/, which sits above it and issues the tokens.
 */
export interface TokenHolders<Holder extends { tokenHash: Buffer }> {
  findById(id: string): Promise<Holder | undefined>
}

/** The user whose token is in `Authorization: Bearer <token>`, or an UNAUTHORIZED error. */
export async function authenticate<User extends { tokenHash: Buffer }>(
  users: TokenHolders<User>,
  header: string | undefined,
): Promise<User> {
  const match = bearerCredentials(header)?.match(TOKEN)
  const user = match ? await users.findById(match[1] as string) : undefined
  const candidate = hashSecret(match?.[2] ?? '')
  // Compare even when there is no such user, so timing does not tell ids that exist from those that do not.
  const stored = user ? user.tokenHash : Buffer.alloc(candidate.length)
  const equal = stored.length === candidate.length && timingSafeEqual(candidate, stored)
  if (!user || !equal) throw new UnauthorizedError()
  return user
}
