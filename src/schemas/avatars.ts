import { Type } from 'typebox'
import { FALLBACK_FORMAT, OUTPUT_FORMATS, type OutputFormat } from '../avatars/formats.ts'
import { BearerSecurity, ErrorRef, errorRef, IdParams, Nullable } from './common.ts'
import { IdempotencyKeyHeaders } from './idempotency.ts'

const Format = Type.Union(OUTPUT_FORMATS.map((f) => Type.Literal(f)))

export const AvatarVariantView = Type.Object({
  size: Type.Integer(),
  format: Format,
  url: Type.String({ description: 'Versioned URL; its content never changes' }),
  bytes: Type.Integer(),
})

export const AvatarView = Nullable(
  Type.Object({
    status: Type.Union([Type.Literal('ready'), Type.Literal('processing')], {
      description: 'processing while an upload is on its way; the current variants are served meanwhile',
    }),
    placeholder: Nullable(Type.String({ description: 'ThumbHash, base64' })),
    dominantColor: Nullable(Type.String({ pattern: '^#[0-9a-f]{6}$' })),
    variants: Type.Array(AvatarVariantView),
  }),
)

export const uploadAvatarRouteSchema = {
  summary: 'Upload an avatar: raw image bytes (Content-Type: image/*) or multipart/form-data with field "file"',
  description:
    'With an `Idempotency-Key` header (scoped to the user) the upload is safe to retry: a retry of the same bytes ' +
    "(and, for a form, the same file name, type and fields) gets the first upload's job again " +
    '(`Idempotent-Replayed: true`) and queues nothing.',
  security: BearerSecurity,
  params: IdParams,
  headers: IdempotencyKeyHeaders,
  response: {
    202: Type.Object({ jobId: Type.String({ format: 'uuid' }), status: Type.Literal('queued') }),
    400: ErrorRef,
    401: ErrorRef,
    403: ErrorRef,
    409: errorRef('IDEMPOTENCY_KEY_IN_FLIGHT: a request with this Idempotency-Key is still running'),
    413: ErrorRef,
    415: ErrorRef,
    422: errorRef(
      'IMAGE_TOO_LARGE, IMAGE_UNDECODABLE; or IDEMPOTENCY_KEY_REUSED: this Idempotency-Key came with another upload',
    ),
    429: ErrorRef,
    503: ErrorRef,
  },
}

/** The sizes a client may ask for are the configured ones; the schema says so, and so does /docs. */
export function getAvatarRouteSchema(sizes: number[], formats: OutputFormat[]) {
  return {
    summary: "Serve a user's current avatar, negotiating the format from Accept unless `format` is given",
    params: IdParams,
    querystring: Type.Object(
      {
        size: Type.Optional(
          Type.Union(
            sizes.map((s) => Type.Literal(s)),
            { description: 'Defaults to the largest' },
          ),
        ),
        format: Type.Optional(Type.Union([...formats, FALLBACK_FORMAT].map((f) => Type.Literal(f)))),
        v: Type.Optional(Type.String({ format: 'uuid', description: 'Version, from the profile URLs' })),
      },
      { additionalProperties: false },
    ),
    response: {
      200: Type.Unknown({ description: 'The image bytes' }),
      302: Type.Null({ description: 'AVATAR_REDIRECT: Location is a presigned URL of the bucket' }),
      304: Type.Null({ description: 'Not modified (If-None-Match)' }),
      400: ErrorRef,
      404: ErrorRef,
      503: ErrorRef,
    },
  }
}
