import { Type } from 'typebox'
import { BearerSecurity, ErrorRef, Id, IdParams } from './common.ts'

export const JobView = Type.Object({
  id: Id,
  kind: Type.String(),
  status: Type.Union([
    Type.Literal('queued'),
    Type.Literal('running'),
    Type.Literal('succeeded'),
    Type.Literal('failed'),
  ]),
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
  security: BearerSecurity,
  params: IdParams,
  response: { 200: JobView, 400: ErrorRef, 401: ErrorRef, 404: ErrorRef },
}
