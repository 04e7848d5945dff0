import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AuthFailureLimit } from '../auth/failure-limit.ts'
import { configuredTokenCheck } from '../auth/tokens.ts'
import type { Config } from '../config.ts'
import { AuthFailuresError, UnauthorizedError } from '../errors.ts'
import { adminJobView } from '../jobs/job-view.ts'
import { listNewestJobs } from '../jobs/list.ts'
import type { RetryChecks } from '../jobs/retry.ts'
import { retryFailedJob } from '../jobs/retry.ts'
import type { JobStore } from '../jobs/types.ts'
import { listJobsRouteSchema, retryJobRouteSchema } from '../schemas/admin.ts'

export interface AdminRouteDeps {
  config: Pick<Config, 'ADMIN_TOKEN'>
  queue: JobStore
  retryChecks: RetryChecks
  adminAuthFailures: AuthFailureLimit
}

export const adminRoutes: FastifyPluginAsyncTypebox<{ deps: AdminRouteDeps }> = async (app, { deps }) => {
  const isAdmin = configuredTokenCheck(deps.config.ADMIN_TOKEN)
  const failures = deps.adminAuthFailures
  app.addHook('onRequest', async (request, reply) => {
    // An address past its wrong tokens is refused before its token is looked at: right or wrong, it learns nothing.
    const wait = failures.blockedFor(request.ip)
    if (wait !== undefined) {
      reply.header('retry-after', String(wait))
      throw new AuthFailuresError(wait)
    }
    const authorization = request.headers.authorization
    if (isAdmin(authorization)) {
      failures.succeeded(request.ip)
      return
    }
    // Only a token sent counts as a guess; a request that sends none is refused without spending the budget.
    if (authorization !== undefined) failures.failed(request.ip)
    throw new UnauthorizedError()
  })

  app.get('/admin/jobs', { schema: listJobsRouteSchema }, async (request) => {
    const { status, kind, limit = 50 } = request.query
    return { jobs: (await listNewestJobs(deps.queue, { status, kind, limit })).map(adminJobView) }
  })

  app.post('/admin/jobs/:id/retry', { schema: retryJobRouteSchema }, async (request, reply) => {
    return reply.code(202).send(adminJobView(await retryFailedJob(deps.queue, request.params.id, deps.retryChecks)))
  })
}
