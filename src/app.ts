import { randomUUID } from 'node:crypto'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { installErrorHandling } from './error-handler.ts'
import { IdempotencyKeyInvalidError } from './errors.ts'
import { isIdempotencyKeyFailure } from './idempotency/key.ts'
import { createLogger } from './logger.ts'
import { openParts, type PartsOptions } from './parts.ts'
import { addSecurityHeaders } from './plugins/helmet.ts'
import rateLimit, { rateLimitOptions } from './plugins/rate-limit.ts'
import sse, { sseOptions } from './plugins/sse.ts'
import { registerApiDocs } from './plugins/swagger.ts'
import { adminRoutes } from './routes/admin.ts'
import { avatarsRoutes } from './routes/avatars.ts'
import { dashboardRoutes } from './routes/dashboard.ts'
import { healthRoutes } from './routes/health.ts'
import { homeRoutes } from './routes/home.ts'
import { jobEventsRoutes, jobsRoutes } from './routes/jobs.ts'
import { metricsRoutes } from './routes/metrics.ts'
import { signupRoutes } from './routes/signup.ts'
import { usersRoutes } from './routes/users.ts'
import { webhooksRoutes } from './routes/webhooks.ts'
import { ErrorResponse } from './schemas/common.ts'
import { webhooksDocument } from './schemas/webhooks.ts'
import { validatorCompiler } from './validation.ts'
import { validationMessage } from './validation-messages.ts'

export interface AppOptions extends PartsOptions {
  /** The process's logger, made by server.ts before anything else can fail; unset, one is made from the config. */
  logger?: Logger
  /**
   * Leaves the jobs to the caller's startJobs(): server.ts starts them only once its port is bound, because
   * listen() makes the instance ready before it binds, and an instance that cannot bind must not have claimed a
   * job or requeued the jobs another process is running. Unset, they start when the instance is ready (inject()).
   */
  deferJobs?: boolean
}

/** Starts the job runner (where this role runs jobs) and the sweeps, and says what this process does. */
export async function startJobs(app: FastifyInstance): Promise<void> {
  await app.runner?.start()
  app.sweeper.start()
  const { role, database, queue, mail } = app
  app.log.info(
    { role, database: database.describe, queue: queue.describe, mail: mail?.describe },
    role === 'worker'
      ? 'worker running jobs'
      : app.runner
        ? `jobs running; mail to ${mail?.describe}`
        : 'serving HTTP only; jobs run in workers',
  )
}

/**
 * Builds the whole service without listening: tests drive it with `inject()`, `server.ts` calls `listen()`.
 * The dispatcher starts when the instance is ready (or at startJobs(), with `deferJobs`) and drains when it closes.
 */
export async function buildApp(config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const log = options.logger ?? createLogger(config)
  // The same logger: the parts take it as pino's Logger, Fastify's types as its own narrower FastifyBaseLogger.
  const fastifyLog: FastifyBaseLogger = log
  const app = Fastify({
    loggerInstance: fastifyLog,
    bodyLimit: config.BODY_LIMIT_BYTES,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Idle keep-alive sockets are closed on shutdown so close() does not wait on them.
    forceCloseConnections: 'idle',
    // Slow clients (a trickled body, headers sent a byte at a time) cannot hold a connection forever.
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    // Node checks those timeouts only every connectionsCheckingInterval (30 s by default): check every second.
    http: { headersTimeout: config.HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
    schemaErrorFormatter: (errors, part) => {
      const message = validationMessage(errors, part)
      // A malformed Idempotency-Key has a code of its own: a client that sends keys branches on it.
      return isIdempotencyKeyFailure(errors, part) ? new IdempotencyKeyInvalidError(message) : new Error(message)
    },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.setValidatorCompiler(validatorCompiler([ErrorResponse]))
  app.addSchema(ErrorResponse)
  installErrorHandling(app)
  // JSON only: a text/plain body would otherwise reach validation as a string instead of a clear 415.
  app.removeContentTypeParser('text/plain')

  await openParts(app, config, log, options)
  if (!options.deferJobs) app.addHook('onReady', () => startJobs(app))
  // On close, no new jobs start while in-flight requests finish; running jobs get what is left of the grace period.
  // Answers given while closing end their connection, or an idle keep-alive socket would hold close() open.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
    app.runner?.stopClaiming()
    // A sweep under way ends at its next batch instead of competing with the drain.
    void app.sweeper.stop()
    // Requests waiting for a job (Prefer: wait) are answered now with what they have: close() must not wait on them.
    app.waiters.close()
  })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })

  addSecurityHeaders(app)
  await app.register(rateLimit, rateLimitOptions)

  // A worker serves only what an orchestrator and Prometheus need of it (health and metrics): no API, no docs.
  const servesApi = app.role !== 'worker'
  if (servesApi) await registerApiDocs(app, webhooksDocument())

  const { role, database, paths, store, queue, waiters, jobChanges, metrics, watchErrors, runner, pool } = app
  const { retryChecks, cancelCleanups, users, avatars, uploads, webhooks, idempotency } = app
  const { dashboardSessions, adminAuthFailures } = app
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the URL: ids must not explode the label set.
    const route = request.routeOptions.url ?? 'unmatched'
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000)
  })

  // Each route group is handed the parts it names (its RouteDeps), nothing more.
  await app.register(healthRoutes, { deps: { database, queue, store, runner } })
  await app.register(metricsRoutes, { deps: { config, metrics } })
  if (!servesApi) return app
  await app.register(homeRoutes)
  await app.register(signupRoutes, { deps: { config, database, users, queue, idempotency } })
  await app.register(usersRoutes, { deps: { users, avatars, queue } })
  await app.register(jobsRoutes, { deps: { config, users, queue, waiters, cancelCleanups } })
  await app.register(sse, sseOptions(config.JOB_EVENTS_HEARTBEAT_MS))
  await app.register(jobEventsRoutes, { deps: { config, users, queue, waiters, jobChanges } })
  await app.register(avatarsRoutes, {
    deps: { config, database, queue, users, avatars, uploads, paths, store, idempotency, cancelCleanups, watchErrors },
  })
  await app.register(webhooksRoutes, { deps: { config, users, webhooks } })
  await app.register(adminRoutes, { deps: { config, queue, retryChecks, adminAuthFailures } })
  await app.register(dashboardRoutes, {
    deps: { role, config, metrics, queue, pool, dashboardSessions, adminAuthFailures, retryChecks },
  })
  return app
}
