import { type Static, Type } from 'typebox'
import { EXPECTED } from '../validation-messages.ts'
import { ErrorRef, errorRef, Id } from './common.ts'
import { IdempotencyKeyHeaders } from './idempotency.ts'

/*
 * A name goes into mail text and onto a public profile: no control characters (a CR LF would start a forged
 * line in the welcome mail), no bidirectional overrides or isolates (they make text read other than it is),
 * no line or paragraph separators.
 */
const PRINTABLE_NAME = '^[^\\p{Cc}\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069\\u2028\\u2029]*$'

export const SignupBody = Type.Object(
  {
    // 254 is the longest address SMTP can carry (RFC 5321 path limit), 64 the longest local part (§4.5.3.1.1).
    email: Type.String({
      format: 'email',
      maxLength: 254,
      pattern: '^[^@]{1,64}@',
      [EXPECTED]: 'an e-mail address with at most 64 characters before the @',
      description: 'Compared case-insensitively; at most 254 characters, the part before the @ at most 64',
    }),
    name: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        pattern: PRINTABLE_NAME,
        [EXPECTED]: 'printable text, without control characters, bidirectional controls or line separators',
        description:
          'Shown on the public profile and in mails; no control characters, bidirectional controls or line separators',
      }),
    ),
  },
  { additionalProperties: false },
)
export type SignupBody = Static<typeof SignupBody>

export const SignupResponse = Type.Object({
  id: Id,
  token: Type.String({ description: 'Bearer token for this user; shown once, stored only as a hash' }),
  jobs: Type.Array(Type.Object({ id: Id, kind: Type.String() }), { description: 'The mail jobs this signup queued' }),
})

export const signupRouteSchema = {
  summary: 'Sign a user up; the welcome mail and admin notice are sent in the background',
  description:
    'With an `Idempotency-Key` header the signup is safe to retry: a retry of the same body gets the same user, ' +
    'jobs and a working token (`Idempotent-Replayed: true`) instead of `409 EMAIL_TAKEN`.',
  headers: IdempotencyKeyHeaders,
  body: SignupBody,
  response: {
    201: SignupResponse,
    400: ErrorRef,
    409: errorRef('EMAIL_TAKEN; or IDEMPOTENCY_KEY_IN_FLIGHT: a request with this Idempotency-Key is still running'),
    413: ErrorRef,
    415: ErrorRef,
    422: errorRef('IDEMPOTENCY_KEY_REUSED: this Idempotency-Key came with another body'),
    429: ErrorRef,
  },
}
