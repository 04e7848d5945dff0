import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { JobNotFailedError, JobNotFoundError, UnauthorizedError } from '../errors.ts'
import { adminJobView } from '../jobs/job-view.ts'
import { listJobsRouteSchema, retryJobRouteSchema } from '../schemas/admin.ts'
import type { Services } from '../services.ts'

const digest = (s: string) => createHash('sha256').update(s).digest()

export const adminRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const expected = services.config.ADMIN_TOKEN ? digest(services.config.ADMIN_TOKEN) : undefined
  // Digests of equal length, compared in constant time; with no ADMIN_TOKEN configured nothing matches.
  app.addHook('onRequest', async (request) => {
    const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1]
    if (!expected || !given || !timingSafeEqual(digest(given), expected)) throw new UnauthorizedError()
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
    services.runner?.wake()
    return reply.code(202).send(adminJobView(requeued))
  })
}
