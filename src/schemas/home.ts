import { Type } from 'typebox'

export const homeRouteSchema = {
  summary: 'Where to start: links to the API documentation, the dashboard, the metrics and the health checks',
  response: {
    200: Type.Object({
      service: Type.Literal('deckhand'),
      links: Type.Record(Type.String(), Type.String(), {
        description: 'docs: the API (Swagger UI); openapi: its document; dashboard; metrics; healthz; readyz',
      }),
    }),
  },
}
