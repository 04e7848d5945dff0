import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authenticate } from '../auth/tokens.ts'
import { JobNotFoundError } from '../errors.ts'
import { jobView } from '../jobs/job-view.ts'
import { getJobRouteSchema } from '../schemas/jobs.ts'
import type { Services } from '../services.ts'

export const jobsRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/jobs/:id', { schema: getJobRouteSchema }, async (request) => {
    const user = await authenticate(services.users, request.headers.authorization)
    const job = await services.queue.get(request.params.id)
    // Another user's job answers like a missing one: job ids leak nothing.
    if (!job || job.ownerId !== user.id) throw new JobNotFoundError()
    return jobView(job)
  })
}
