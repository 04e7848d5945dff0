import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { configuredTokenCheck } from '../auth/tokens.ts'
import type { Config } from '../config.ts'
import { UnauthorizedError } from '../errors.ts'
import type { Metrics } from '../metrics.ts'
import { metricsRouteSchema } from '../schemas/metrics.ts'

export interface MetricsRouteDeps {
  config: Pick<Config, 'METRICS_TOKEN'>
  metrics: Pick<Metrics, 'registry'>
}

export const metricsRoutes: FastifyPluginAsyncTypebox<{ deps: MetricsRouteDeps }> = async (app, { deps }) => {
  const { registry } = deps.metrics
  const token = deps.config.METRICS_TOKEN
  const isScraper = configuredTokenCheck(token)
  app.get(
    '/metrics',
    {
      schema: metricsRouteSchema,
      // Queue depths and request rates tell an outsider how busy the service is: closed when a token is set.
      onRequest: async (request) => {
        if (token !== undefined && !isScraper(request.headers.authorization)) throw new UnauthorizedError()
      },
    },
    async (request, reply) => {
      const names = request.query.name
      // A few named families: what a once-a-second sampler reads without paying for the rest, and without
      // restarting the event-loop histogram that the next full scrape (Prometheus) reports. The dashboard reads its
      // workers so (dashboard/worker-metrics.ts), and so does the bench's timeline: a user's page, not a bench hook.
      const text = names
        ? (
            await Promise.all(
              names.filter((n) => registry.getSingleMetric(n)).map((n) => registry.getSingleMetricAsString(n)),
            )
          )
            .map((family) => `${family}\n`)
            .join('')
        : await registry.metrics()
      return reply.type(registry.contentType).send(text)
    },
  )
}
