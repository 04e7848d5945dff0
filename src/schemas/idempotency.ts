import { Type } from 'typebox'
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_PATTERN } from '../idempotency/key-format.ts'
import { EXPECTED } from '../validation-messages.ts'

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
