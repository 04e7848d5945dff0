import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authenticate } from '../auth/tokens.ts'
import { JobNotFoundError } from '../errors.ts'
import { jobView } from '../jobs/job-view.ts'
import { preferredWaitSeconds } from '../jobs/job-waiters.ts'
import { isPending } from '../jobs/types.ts'
import { getJobRouteSchema } from '../schemas/jobs.ts'
import type { Services } from '../services.ts'

export const jobsRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { config, waiters } = services
  app.get('/jobs/:id', { schema: getJobRouteSchema }, async (request, reply) => {
    const user = await authenticate(services.users, request.headers.authorization)
    const read = async () => {
      const job = await services.queue.get(request.params.id)
      // Another user's job answers like a missing one: job ids leak nothing.
      if (!job || job.ownerId !== user.id) throw new JobNotFoundError()
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
}
