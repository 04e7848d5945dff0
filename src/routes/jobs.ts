import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authenticate, configuredTokenCheck } from '../auth/tokens.ts'
import type { Config } from '../config.ts'
import { JobNotFoundError, ServiceBusyError } from '../errors.ts'
import type { CancelCleanups } from '../jobs/cancel.ts'
import { CANCELLED_BY_REQUEST, cancelJob } from '../jobs/cancel.ts'
import type { JobChangeHub } from '../jobs/job-events.ts'
import { followJob, jobEvent } from '../jobs/job-events.ts'
import { jobView } from '../jobs/job-view.ts'
import type { JobWaiters } from '../jobs/job-waiters.ts'
import { preferredWaitSeconds } from '../jobs/job-waiters.ts'
import { isPending, type Job, type JobStore } from '../jobs/types.ts'
import { cancelJobRouteSchema, getJobRouteSchema, jobEventsRouteSchema } from '../schemas/jobs.ts'
import type { UsersRepository } from '../users/repository.ts'

/** The job if it is this user's; another user's job answers like a missing one: job ids leak nothing. */
async function ownJob(queue: JobStore, userId: string, id: string): Promise<Job | undefined> {
  const job = await queue.get(id)
  return job?.ownerId === userId ? job : undefined
}

export interface JobsRouteDeps {
  config: Config
  users: UsersRepository
  queue: JobStore
  waiters: JobWaiters
  cancelCleanups: CancelCleanups
}

export interface JobEventsRouteDeps extends Omit<JobsRouteDeps, 'cancelCleanups'> {
  jobChanges: JobChangeHub
}

export const jobsRoutes: FastifyPluginAsyncTypebox<{ deps: JobsRouteDeps }> = async (app, { deps }) => {
  const { config, waiters } = deps

  app.get('/jobs/:id', { schema: getJobRouteSchema }, async (request, reply) => {
    const user = await authenticate(deps.users, request.headers.authorization)
    const read = async () => {
      const job = await ownJob(deps.queue, user.id, request.params.id)
      if (!job) throw new JobNotFoundError()
      return job
    }
    let job = await read()
    const asked = preferredWaitSeconds(request.headers.prefer)
    const waitMs = Math.min((asked ?? 0) * 1000, config.JOB_WAIT_MAX_MS)
    if (!isPending(job) || waitMs <= 0) return jobView(job)

    // The client asked to wait for the outcome (RFC 7240): hold the answer until the job settles or time is up.
    const gone = new AbortController()
    reply.raw.once('close', () => gone.abort())
    const deadline = Date.now() + waitMs
    let waited = false
    while (isPending(job)) {
      const left = deadline - Date.now()
      if (left <= 0) break
      // Settle events are best effort (a Redis reconnect may drop one): look again every POLL_INTERVAL_MS anyway.
      const end = await waiters.wait(job.id, Math.min(left, config.POLL_INTERVAL_MS), gone.signal, user.id)
      if (end === 'full' || end === 'aborted') break
      waited = true
      job = await read()
      if (end === 'closed') break
    }
    if (waited) reply.header('preference-applied', `wait=${Math.ceil(waitMs / 1000)}`)
    return jobView(job)
  })

  const isAdmin = configuredTokenCheck(config.ADMIN_TOKEN)
  app.delete('/jobs/:id', { schema: cancelJobRouteSchema }, async (request, reply) => {
    const { authorization } = request.headers
    // The admin may call off anyone's job; a user only their own (another's answers like a missing one).
    const job = isAdmin(authorization)
      ? await deps.queue.get(request.params.id)
      : await ownJob(deps.queue, (await authenticate(deps.users, authorization)).id, request.params.id)
    if (!job) throw new JobNotFoundError()
    const cancelDeps = { queue: deps.queue, cleanups: deps.cancelCleanups, waiters }
    const now = await cancelJob(cancelDeps, job, CANCELLED_BY_REQUEST, config.CANCEL_WAIT_MS)
    return reply.code(now.status === 'cancelled' ? 200 : 202).send(jobView(now))
  })
}

export const jobEventsRoutes: FastifyPluginAsyncTypebox<{ deps: JobEventsRouteDeps }> = async (app, { deps }) => {
  const { config, waiters, jobChanges } = deps
  // 'manual': no Accept negotiation, so that refusals (401, 404, 503) leave as deckhand's JSON errors.
  app.get('/jobs/:id/events', { schema: jobEventsRouteSchema, sse: 'manual' }, async (request, reply) => {
    const user = await authenticate(deps.users, request.headers.authorization)
    const { id } = request.params
    const read = () => ownJob(deps.queue, user.id, id)
    const job = await read()
    if (!job) throw new JobNotFoundError()
    const lastEventId = request.headers['last-event-id']
    // An EventSource reconnects after every close; a 204 is what tells it the story is over.
    if (!isPending(job) && lastEventId === jobEvent(job).id) return reply.code(204).send(null)

    const done = new AbortController()
    const release = waiters.hold(user.id, () => done.abort())
    if (!release) {
      const limits = `at most ${config.JOB_WAITERS_MAX}, ${config.JOB_WAITERS_PER_USER} a user`
      throw new ServiceBusyError(`Too many requests wait on jobs now (${limits})`)
    }
    reply.raw.once('close', () => done.abort())
    try {
      // Headers (and the heartbeat) at once, even when the client has the current state already.
      reply.sse.sendHeaders()
      await reply.sse.send(
        followJob({
          job,
          read,
          subscribe: (listener) => jobChanges.subscribe(id, listener),
          lastEventId,
          pollMs: config.POLL_INTERVAL_MS,
          signal: done.signal,
        }),
      )
    } finally {
      release()
    }
  })
}
