import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { configuredTokenCheck } from '../auth/tokens.ts'
import { JobNotFailedError, JobNotFoundError, UnauthorizedError } from '../errors.ts'
import { adminJobView } from '../jobs/job-view.ts'
import { listJobsRouteSchema, retryJobRouteSchema } from '../schemas/admin.ts'
import type { Services } from '../services.ts'

export const adminRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const isAdmin = configuredTokenCheck(services.config.ADMIN_TOKEN)
  app.addHook('onRequest', async (request) => {
    if (!isAdmin(request.headers.authorization)) throw new UnauthorizedError()
  })

  app.get('/admin/jobs', { schema: listJobsRouteSchema }, async (request) => {
    const { status, kind, limit = 50 } = request.query
    return { jobs: (await services.queue.list({ status, kind, limit })).map(adminJobView) }
  })

  app.post('/admin/jobs/:id/retry', { schema: retryJobRouteSchema }, async (request, reply) => {
    const job = await services.queue.get(request.params.id)
    if (!job) throw new JobNotFoundError()
    const requeued = await services.queue.requeueFailed(job.id, Date.now())
    if (!requeued) throw new JobNotFailedError(job.status)
    return reply.code(202).send(adminJobView(requeued))
  })
}
