import { Type } from 'typebox'
import { JOB_STATUSES } from '../jobs/statuses.ts'
import { BearerSecurity, ErrorRef, Id, IdParams } from './common.ts'

export const JobView = Type.Object({
  id: Id,
  kind: Type.String(),
  status: Type.Enum(JOB_STATUSES),
  attempts: Type.Integer({ description: 'Attempts started so far' }),
  stage: Type.Optional(Type.String({ description: 'What a running job is doing now' })),
  createdAt: Type.String({ format: 'date-time' }),
  startedAt: Type.Optional(Type.String({ format: 'date-time' })),
  finishedAt: Type.Optional(Type.String({ format: 'date-time' })),
  nextAttemptAt: Type.Optional(
    Type.String({ format: 'date-time', description: 'When a job waiting to retry runs again' }),
  ),
  result: Type.Optional(Type.Unknown()),
  error: Type.Optional(
    Type.Object({ code: Type.String(), message: Type.String() }, { description: 'The last failure, kept on retries' }),
  ),
})

export const getJobRouteSchema = {
  summary: 'Status of a background job; only its owner may read it',
  description:
    'With `Prefer: wait=N` (RFC 7240) the answer waits up to N seconds (at most JOB_WAIT_MAX_MS) for a queued or ' +
    'running job to succeed or fail, instead of the client polling; `Preference-Applied: wait=N` says it waited. ' +
    'Past JOB_WAITERS_MAX waiting requests, or JOB_WAITERS_PER_USER of one user, or while shutting down, the answer comes at once.',
  security: BearerSecurity,
  params: IdParams,
  headers: Type.Object({
    prefer: Type.Optional(Type.String({ description: 'wait=N: seconds to wait for the job to finish' })),
  }),
  response: { 200: JobView, 400: ErrorRef, 401: ErrorRef, 404: ErrorRef },
}
