import { type TSchema, Type } from 'typebox'

/** Users and jobs are named by UUIDs; anything else in a path is refused before it reaches code. */
export const Id = Type.String({ format: 'uuid', description: 'A UUID' })
export const IdParams = Type.Object({ id: Id }, { additionalProperties: false })

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

/** The one shape of every error answer. */
export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer({ description: 'The HTTP status, repeated' }),
    code: Type.String({ description: 'Stable machine-readable code, e.g. VALIDATION, EMAIL_TAKEN' }),
    error: Type.String({ description: 'The HTTP status text' }),
    message: Type.String({ description: 'What went wrong, for humans' }),
  },
  { $id: 'ErrorResponse' },
)

export const ErrorRef = Type.Ref('ErrorResponse')

/** An error answer whose codes the OpenAPI document names, where one status covers several cases. */
export const errorRef = (description: string) => Type.Ref('ErrorResponse', { description })

export const BearerSecurity = [{ bearer: [] }]
