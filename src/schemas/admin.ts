import { Type } from 'typebox'
import { JOB_STATUSES } from '../jobs/statuses.ts'
import { BearerSecurity, ErrorRef, IdParams } from './common.ts'
import { JobView } from './jobs.ts'

const Status = Type.Enum(JOB_STATUSES)

export const AdminJobView = Type.Object({
  ...JobView.properties,
  ownerId: Type.String({ format: 'uuid' }),
  error: Type.Optional(
    Type.Object(
      {
        code: Type.String(),
        message: Type.String(),
        detail: Type.Optional(Type.String({ description: "The library's or the far end's own words; admins only" })),
      },
      { description: 'The last failure, kept on retries' },
    ),
  ),
})

export const listJobsRouteSchema = {
  summary: 'Admin: jobs newest first, of one status or all',
  security: BearerSecurity,
  querystring: Type.Object(
    {
      status: Type.Optional(Status),
      kind: Type.Optional(Type.String({ maxLength: 64 })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
    },
    { additionalProperties: false },
  ),
  response: { 200: Type.Object({ jobs: Type.Array(AdminJobView) }), 400: ErrorRef, 401: ErrorRef, 429: ErrorRef },
}

export const retryJobRouteSchema = {
  summary:
    'Admin: run a failed job again, with a fresh set of attempts; 409 JOB_NOT_RETRYABLE when a new run cannot succeed',
  security: BearerSecurity,
  params: IdParams,
  response: { 202: AdminJobView, 400: ErrorRef, 401: ErrorRef, 404: ErrorRef, 409: ErrorRef, 429: ErrorRef },
}
