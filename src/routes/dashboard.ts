import { randomBytes } from 'node:crypto'
import cookie from '@fastify/cookie'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { configuredSecretCheck } from '../auth/tokens.ts'
import { loadAssets } from '../dashboard/assets.ts'
import { dashboardJobDetail, dashboardJobView, listDashboardJobs } from '../dashboard/jobs.ts'
import { createLiveDashboard } from '../dashboard/live.ts'
import { assertSameOrigin } from '../dashboard/origin.ts'
import { dashboardPage, loginPage, setupPage } from '../dashboard/pages.ts'
import { endSession, hasSession, sessionEnd, sessionSecret, startSession } from '../dashboard/session.ts'
import { DashboardOffError, JobNotFoundError, LoginFailedError, SessionRequiredError } from '../errors.ts'
import { retryFailedJob } from '../jobs/retry.ts'
import { dashboardCsp } from '../plugins/helmet.ts'
import {
  dashboardAssetRouteSchema,
  dashboardJobRouteSchema,
  dashboardJobsRouteSchema,
  dashboardPageRouteSchema,
  dashboardRetryRouteSchema,
  loginRouteSchema,
  logoutRouteSchema,
  streamRouteSchema,
} from '../schemas/dashboard.ts'
import type { Services } from '../services.ts'

export const dashboardRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const adminToken = services.config.ADMIN_TOKEN
  const isAdminToken = configuredSecretCheck(adminToken)
  const assets = loadAssets()
  // Without ADMIN_TOKEN no cookie can be made; the random key only keeps the plugin's contract.
  await app.register(cookie, { secret: adminToken ? sessionSecret(adminToken) : randomBytes(32).toString('hex') })
  const live = createLiveDashboard(services, app.log)
  app.addHook('preClose', async () => live.close())

  const requireSession = async (request: FastifyRequest) => {
    if (adminToken === undefined) throw new DashboardOffError()
    if (!hasSession(request)) throw new SessionRequiredError()
  }
  const html = (reply: FastifyReply, body: string) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', dashboardCsp)
      .header('cache-control', 'no-store')
      .send(body)

  app.get('/dashboard', { schema: dashboardPageRouteSchema }, async (request, reply) => {
    if (adminToken === undefined) return html(reply, setupPage)
    return html(reply, hasSession(request) ? dashboardPage : loginPage)
  })

  app.get('/dashboard/assets/:name', { schema: dashboardAssetRouteSchema }, async (request, reply) => {
    const asset = assets[request.params.name]
    return reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body)
  })

  app.post('/dashboard/login', { schema: loginRouteSchema }, async (request, reply) => {
    if (adminToken === undefined) throw new DashboardOffError()
    assertSameOrigin(request)
    if (!isAdminToken(request.body.token)) throw new LoginFailedError()
    startSession(request, reply, services.config.DASHBOARD_SESSION_MS)
    return reply.code(204).send(null)
  })

  app.post('/dashboard/logout', { schema: logoutRouteSchema }, async (request, reply) => {
    assertSameOrigin(request)
    endSession(reply)
    return reply.code(204).send(null)
  })

  app.get(
    '/dashboard/stream',
    { schema: streamRouteSchema, sse: 'only', onRequest: requireSession },
    async (request, reply) => live.stream(reply.sse, sessionEnd(request) ?? 0),
  )

  app.get('/dashboard/jobs', { schema: dashboardJobsRouteSchema, onRequest: requireSession }, async (request) => {
    const { status, kind, limit = 100 } = request.query
    return { jobs: await listDashboardJobs(services.queue, { status, kind, limit }) }
  })

  app.get('/dashboard/jobs/:id', { schema: dashboardJobRouteSchema, onRequest: requireSession }, async (request) => {
    const job = await services.queue.get(request.params.id)
    if (!job) throw new JobNotFoundError()
    return dashboardJobDetail(job, services.retryChecks)
  })

  app.post(
    '/dashboard/jobs/:id/retry',
    { schema: dashboardRetryRouteSchema, onRequest: requireSession },
    async (request, reply) => {
      assertSameOrigin(request)
      return reply
        .code(202)
        .send(dashboardJobView(await retryFailedJob(services.queue, request.params.id, services.retryChecks)))
    },
  )
}
