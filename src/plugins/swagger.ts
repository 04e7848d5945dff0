import swagger, { type OpenAPIV3_2 } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

type Webhooks = NonNullable<OpenAPIV3_2.Document['webhooks']>

/**
 * The OpenAPI document (`/docs/json`) from the routes' TypeBox schemas and the `webhooks` deckhand calls, and its UI
 * at `/docs`.
 */
export async function registerApiDocs(app: FastifyInstance, webhooks: Webhooks): Promise<void> {
  await app.register(swagger, {
    openapi: {
      // 3.1: JSON Schema 2020-12, and `webhooks`, the requests deckhand makes to users' endpoints.
      openapi: '3.1.0',
      webhooks,
      info: { title: 'deckhand', version: '0.1.0', description: 'Answers at once; mail and images in the background.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  })
  // The documentation UI is the one page deckhand serves; it brings its own, looser CSP for its assets.
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
}
