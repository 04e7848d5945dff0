import { type Static, Type } from 'typebox'
import { ErrorRef, Id } from './common.ts'

export const SignupBody = Type.Object(
  {
    // 254 is the longest address SMTP can carry (RFC 5321 path limit).
    email: Type.String({ format: 'email', maxLength: 254, description: 'Compared case-insensitively' }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Shown on the public profile' })),
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
  body: SignupBody,
  response: { 201: SignupResponse, 400: ErrorRef, 409: ErrorRef, 413: ErrorRef, 415: ErrorRef, 429: ErrorRef },
}
