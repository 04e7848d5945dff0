import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { homeRouteSchema } from '../schemas/home.ts'

/** GET /: a newcomer's first request, answered with where to go next instead of a 404. */
export const homeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const body = {
    service: 'deckhand' as const,
    links: {
      docs: '/docs',
      openapi: '/docs/json',
      dashboard: '/dashboard',
      metrics: '/metrics',
      healthz: '/healthz',
      readyz: '/readyz',
    },
  }
  app.get('/', { schema: homeRouteSchema }, async () => body)
}
