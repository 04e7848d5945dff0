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

export const cancelJobRouteSchema = {
  summary: "Cancel a queued or running job; its owner's token or the ADMIN_TOKEN",
  description:
    "A queued job (or one waiting to retry) is cancelled at once. A running one is stopped: an image job's worker " +
    'thread is terminated within a second; a mail or webhook delivery already under way is let finish (a message ' +
    'or a request half sent cannot be taken back), and the answer then says how it ended. The answer waits up to ' +
    'CANCEL_WAIT_MS for the job to stop: `200` with the job `cancelled` (error.code `CANCELLED`), or `202` with the ' +
    'job still `running`, to stop moments later. Cancelling a cancelled job answers `200` with the same job. A job ' +
    'that had succeeded or failed (or did so before it could be stopped) gets `409 JOB_FINISHED`. Another ' +
    "user's job answers 404, like a missing one.",
  security: BearerSecurity,
  params: IdParams,
  response: { 200: JobView, 202: JobView, 400: ErrorRef, 401: ErrorRef, 404: ErrorRef, 409: ErrorRef, 503: ErrorRef },
}

const JobProgress = Type.Object({
  id: Id,
  status: Type.Enum(['queued', 'running']),
  stage: Type.Optional(Type.String({ description: 'What a running job is doing now, e.g. resizing, publishing' })),
})

export const jobEventsRouteSchema = {
  summary: "A job's lifecycle as Server-Sent Events; only its owner may follow it",
  description:
    'A `text/event-stream` (`curl -N`, `EventSource`). Events are named by status: `queued` and `running` carry ' +
    '`{id, status, stage?}`, one for each stage as it changes; the final `succeeded` or `failed` carries the same ' +
    'body as `GET /jobs/:id`, and the stream closes after it. A job already finished gets its final event at once. ' +
    'Every event has an `id:` made from the state (`running.resizing`, `succeeded`): a client reconnecting with ' +
    '`Last-Event-ID` gets the current state at once unless it has it; after the final event it gets 204, which ' +
    'tells an EventSource to stop. A comment line comes every JOB_EVENTS_HEARTBEAT_MS (15 s). Open streams count ' +
    'against JOB_WAITERS_MAX and JOB_WAITERS_PER_USER: past them `503 SERVICE_BUSY` with `Retry-After`. Streams ' +
    'end when the service shuts down; the client reconnects.',
  security: BearerSecurity,
  params: IdParams,
  headers: Type.Object({
    'last-event-id': Type.Optional(Type.String({ description: 'The id of the last event the client received' })),
  }),
  response: {
    200: {
      description:
        'The event stream: `event: queued|running|succeeded|failed|cancelled`, `id: <state>`, `data: <JSON>`',
      content: {
        'text/event-stream': {
          schema: Type.Union([JobProgress, JobView], {
            description: 'The data of one event: progress, or the final job',
          }),
        },
      },
    },
    204: { description: 'The client already has the final event: nothing more will come', type: 'null' },
    400: ErrorRef,
    401: ErrorRef,
    404: ErrorRef,
    503: ErrorRef,
  },
}
