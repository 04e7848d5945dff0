import type { FastifyInstance } from 'fastify'
import FindMyWay, { type HTTPMethod } from 'find-my-way'

/**
 * The methods the app's routes answer on a path, with Fastify's own router (find-my-way) so that a path matches
 * here exactly as it would there. It learns the routes as they are added (onRoute): call it before any route is.
 */
export function allowedMethods(app: FastifyInstance): (path: string) => string[] {
  const router = FindMyWay()
  const methods = new Set<HTTPMethod>()
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat() as HTTPMethod[]) {
      router.on(method, route.url, () => {})
      methods.add(method)
    }
  })
  return (path) => [...methods].filter((method) => router.find(method, path) !== null).sort()
}
