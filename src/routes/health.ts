import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { NotReadyError } from '../errors.ts'
import { healthzRouteSchema, readyzRouteSchema } from '../schemas/health.ts'
import type { Services } from '../services.ts'

export const healthRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/healthz', { schema: healthzRouteSchema }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', { schema: readyzRouteSchema }, async () => {
    await services.database.ping().catch((err) => {
      throw new NotReadyError(`database: ${(err as Error).message}`)
    })
    if (services.runner && !services.runner.running) throw new NotReadyError('job runner not running')
    return { status: 'ok' as const }
  })
}
