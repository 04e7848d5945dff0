import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

/** The OpenAPI document (`/docs/json`) from the routes' TypeBox schemas, and its UI at `/docs`. */
export async function registerApiDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: { title: 'deckhand', version: '0.1.0', description: 'Answers at once; mail and images in the background.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  })
  // The documentation UI is the one page deckhand serves; it brings its own, looser CSP for its assets.
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
}
