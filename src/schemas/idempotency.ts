import { Type } from 'typebox'
import { EXPECTED } from '../validation-messages.ts'

/*
 * The Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header): a Structured Field String, `"…"` with
 * `\"` and `\\` escapes; the bare form without quotes that Stripe's clients send is taken too (without quotes,
 * commas or backslashes, so a header sent twice, which arrives joined by ", ", is refused rather than merged).
 * 16 characters at least: a signup's replayed token is derived from its key, so a key short enough to guess would
 * let anyone who knows the address replay the signup. 255 at most, as Stripe.
 */
const QUOTED = '"(?:[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E]|\\\\[\\\\"]){16,255}"'
const BARE = '[\\x21\\x23-\\x2B\\x2D-\\x5B\\x5D-\\x7E]{16,255}'
export const IDEMPOTENCY_KEY_PATTERN = `^(?:${QUOTED}|${BARE})$`
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key'

export const IdempotencyKeyHeaders = Type.Object({
  [IDEMPOTENCY_KEY_HEADER]: Type.Optional(
    Type.String({
      pattern: IDEMPOTENCY_KEY_PATTERN,
      [EXPECTED]:
        '16 to 255 printable ASCII characters, quoted ("…", as the IETF draft writes it) or bare (then without spaces, quotes, commas or backslashes)',
      description:
        'Makes the request safe to retry (IETF draft-ietf-httpapi-idempotency-key-header): a retry with the same key ' +
        'and the same request within IDEMPOTENCY_TTL_MS (24 h) gets the first answer again, with ' +
        '`Idempotent-Replayed: true`, and nothing is done twice. The same key with another request: 422 ' +
        'IDEMPOTENCY_KEY_REUSED; while the first is still being processed: 409 IDEMPOTENCY_KEY_IN_FLIGHT; malformed: ' +
        '400 IDEMPOTENCY_KEY_INVALID. Use a fresh random value (a UUIDv4) per request. Only accepted requests are ' +
        'remembered: a refused one may be retried with the same key.',
    }),
  ),
})
