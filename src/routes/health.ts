import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { NotReadyError } from '../errors.ts'
import { healthzRouteSchema, readyzRouteSchema } from '../schemas/health.ts'
import type { Services } from '../services.ts'

export const healthRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/healthz', { schema: healthzRouteSchema }, async () => ({ status: 'ok' as const }))

  // Prepared once: load balancers ask this every few seconds.
  const probe = services.db.prepare('SELECT 1')
  app.get('/readyz', { schema: readyzRouteSchema }, async () => {
    if (!services.db.open) throw new NotReadyError('database closed')
    probe.get()
    if (!services.dispatcher.running) throw new NotReadyError('dispatcher not running')
    return { status: 'ok' as const }
  })
}
