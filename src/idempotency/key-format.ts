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
