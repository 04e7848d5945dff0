import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Database } from '../db/database.ts'
import { dependencyFailure } from '../dependencies.ts'
import { NotReadyError } from '../errors.ts'
import type { JobRunner, JobStore } from '../jobs/types.ts'
import { healthzRouteSchema, readyzRouteSchema } from '../schemas/health.ts'
import type { ObjectStore } from '../storage/object-store.ts'

/** What /readyz asks: each dependency of this process, and its job runner where it has one. */
export interface HealthRouteDeps {
  database: Database
  queue: JobStore
  store: ObjectStore
  runner: JobRunner | undefined
}

export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: HealthRouteDeps }> = async (app, { deps }) => {
  app.get('/healthz', { schema: healthzRouteSchema }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', { schema: readyzRouteSchema }, async () => {
    // Each dependency asked at once, each within DEPENDENCY_TIMEOUT_MS; the answer names every one that is down.
    const { database, queue, store } = deps
    const checks: [string, () => Promise<void>][] = [
      ['database', () => database.ping()],
      ['storage', () => store.check()],
    ]
    if (queue.ping) checks.push(['redis', queue.ping.bind(queue)])
    const problems = await Promise.all(
      checks.map(async ([name, check]) => {
        try {
          await check()
          return undefined
        } catch (err) {
          return `${name}: ${dependencyFailure(err)?.reason ?? (err as Error).message}`
        }
      }),
    )
    const down = problems.filter((p) => p !== undefined)
    if (deps.runner && !deps.runner.running) down.push('job runner not running')
    if (down.length > 0) throw new NotReadyError(down.join('; '))
    return { status: 'ok' as const }
  })
}
