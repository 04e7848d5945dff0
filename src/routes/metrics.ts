import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { configuredTokenCheck } from '../auth/tokens.ts'
import { UnauthorizedError } from '../errors.ts'
import type { Services } from '../services.ts'

export const metricsRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { registry } = services.metrics
  const token = services.config.METRICS_TOKEN
  const isScraper = configuredTokenCheck(token)
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics; with METRICS_TOKEN set, only for "Authorization: Bearer <METRICS_TOKEN>"',
      },
      // Queue depths and request rates tell an outsider how busy the service is: closed when a token is set.
      onRequest: async (request) => {
        if (token !== undefined && !isScraper(request.headers.authorization)) throw new UnauthorizedError()
      },
    },
    async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  )
}
