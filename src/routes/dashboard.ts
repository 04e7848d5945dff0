import cookie from '@fastify/cookie'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AuthFailureLimit } from '../auth/failure-limit.ts'
import { configuredSecretCheck } from '../auth/tokens.ts'
import type { Config } from '../config.ts'
import { loadAssets } from '../dashboard/assets.ts'
import { dashboardJobDetail, dashboardJobView, listDashboardJobs } from '../dashboard/jobs.ts'
import { createLiveDashboard, type LiveSources } from '../dashboard/live.ts'
import { assertSameOrigin } from '../dashboard/origin.ts'
import { dashboardPage, loginPage, setupPage } from '../dashboard/pages.ts'
import { clearSessionCookie, sessionCookie, setSessionCookie } from '../dashboard/session.ts'
import type { DashboardSessions } from '../dashboard/sessions.ts'
import {
  AuthFailuresError,
  DashboardOffError,
  JobNotFoundError,
  LoginFailedError,
  SessionRequiredError,
} from '../errors.ts'
import type { RetryChecks } from '../jobs/retry.ts'
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

export interface DashboardRouteDeps extends LiveSources {
  config: LiveSources['config'] & Pick<Config, 'DASHBOARD_SESSION_MS'>
  dashboardSessions: DashboardSessions | undefined
  adminAuthFailures: AuthFailureLimit
  retryChecks: RetryChecks
}

export const dashboardRoutes: FastifyPluginAsyncTypebox<{ deps: DashboardRouteDeps }> = async (app, { deps }) => {
  const adminToken = deps.config.ADMIN_TOKEN
  const isAdminToken = configuredSecretCheck(adminToken)
  const sessions = deps.dashboardSessions
  const failures = deps.adminAuthFailures
  const assets = loadAssets()
  // No secret: the cookie is a random session id that the server looks up, with nothing to sign.
  await app.register(cookie)
  const live = createLiveDashboard(deps, app.log)
  app.addHook('preClose', async () => live.close())

  const sessionEnd = async (request: FastifyRequest) => sessions?.endsAt(sessionCookie(request))
  const requireSession = async (request: FastifyRequest) => {
    if (adminToken === undefined) throw new DashboardOffError()
    if ((await sessionEnd(request)) === undefined) throw new SessionRequiredError()
  }
  const html = (reply: FastifyReply, body: string) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', dashboardCsp)
      .header('cache-control', 'no-store')
      .send(body)

  app.get('/dashboard', { schema: dashboardPageRouteSchema }, async (request, reply) => {
    if (adminToken === undefined) return html(reply, setupPage)
    return html(reply, (await sessionEnd(request)) !== undefined ? dashboardPage : loginPage)
  })

  app.get('/dashboard/assets/:name', { schema: dashboardAssetRouteSchema }, async (request, reply) => {
    const asset = assets[request.params.name]
    return reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body)
  })

  app.post('/dashboard/login', { schema: loginRouteSchema }, async (request, reply) => {
    if (adminToken === undefined || sessions === undefined) throw new DashboardOffError()
    assertSameOrigin(request)
    // Past its wrong tokens an address is refused before the token is compared: a right guess would teach it too.
    const wait = failures.blockedFor(request.ip)
    if (wait !== undefined) {
      reply.header('retry-after', String(wait))
      throw new AuthFailuresError(wait)
    }
    if (!isAdminToken(request.body.token)) {
      failures.failed(request.ip)
      throw new LoginFailedError()
    }
    failures.succeeded(request.ip)
    const lifetimeMs = deps.config.DASHBOARD_SESSION_MS
    setSessionCookie(request, reply, await sessions.start(lifetimeMs), lifetimeMs)
    return reply.code(204).send(null)
  })

  app.post('/dashboard/logout', { schema: logoutRouteSchema }, async (request, reply) => {
    assertSameOrigin(request)
    // Ended on the server, for every api sharing the database: the old cookie opens nothing from now on.
    await sessions?.revoke(sessionCookie(request))
    clearSessionCookie(reply)
    return reply.code(204).send(null)
  })

  app.get(
    '/dashboard/stream',
    { schema: streamRouteSchema, sse: 'only', onRequest: requireSession },
    async (request, reply) =>
      live.stream(reply.sse, (await sessionEnd(request)) ?? 0, async () => (await sessionEnd(request)) !== undefined),
  )

  app.get('/dashboard/jobs', { schema: dashboardJobsRouteSchema, onRequest: requireSession }, async (request) => {
    const { status, kind, limit = 100 } = request.query
    return { jobs: await listDashboardJobs(deps.queue, { status, kind, limit }) }
  })

  app.get('/dashboard/jobs/:id', { schema: dashboardJobRouteSchema, onRequest: requireSession }, async (request) => {
    const job = await deps.queue.get(request.params.id)
    if (!job) throw new JobNotFoundError()
    return dashboardJobDetail(job, deps.retryChecks)
  })

  app.post(
    '/dashboard/jobs/:id/retry',
    { schema: dashboardRetryRouteSchema, onRequest: requireSession },
    async (request, reply) => {
      assertSameOrigin(request)
      return reply
        .code(202)
        .send(dashboardJobView(await retryFailedJob(deps.queue, request.params.id, deps.retryChecks)))
    },
  )
}
