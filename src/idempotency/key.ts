import { createHash } from 'node:crypto'
import type { ErrorObject } from 'ajv'
import { IdempotencyKeyInvalidError } from '../errors.ts'
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_PATTERN } from './key-format.ts'

const KEY = new RegExp(IDEMPOTENCY_KEY_PATTERN, 'u')

/**
 * The key of an `Idempotency-Key` header, unquoted; undefined when there is none. The route's schema has refused
 * a malformed one already; this refuses it again for callers without one.
 */
export function idempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined
  if (typeof header !== 'string' || !KEY.test(header)) {
    throw new IdempotencyKeyInvalidError('Expected one Idempotency-Key of 16 to 255 printable ASCII characters')
  }
  return header.startsWith('"') ? header.slice(1, -1).replace(/\\(["\\])/g, '$1') : header
}

/** What the database keeps instead of the key: a signup's key is the secret its replayed token derives from. */
export const hashKey = (key: string): string => createHash('sha256').update(key).digest('base64url')

/** Whether a failed validation of the headers is the Idempotency-Key's: it gets its own code, not VALIDATION. */
export const isIdempotencyKeyFailure = (errors: ErrorObject[], part: string): boolean =>
  part === 'headers' && errors.some((e) => e.instancePath === `/${IDEMPOTENCY_KEY_HEADER}`)
