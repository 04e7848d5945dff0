import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Config } from '../config.ts'
import { idempotencyKey } from '../idempotency/key.ts'
import { signupRouteSchema } from '../schemas/signup.ts'
import { type SignupDeps, signUp, signUpOnce } from '../users/signup.ts'

/** What the signup route is made from: the signup's own dependencies and its rate limit. */
export interface SignupRouteDeps extends SignupDeps {
  config: Pick<Config, 'SIGNUP_RATE_MAX' | 'SIGNUP_RATE_WINDOW_MS'>
}

export const signupRoutes: FastifyPluginAsyncTypebox<{ deps: SignupRouteDeps }> = async (app, { deps }) => {
  const { SIGNUP_RATE_MAX, SIGNUP_RATE_WINDOW_MS } = deps.config
  const rateLimit = SIGNUP_RATE_MAX > 0 ? { max: SIGNUP_RATE_MAX, timeWindow: SIGNUP_RATE_WINDOW_MS } : false
  app.post('/signup', { schema: signupRouteSchema, config: { rateLimit } }, async (request, reply) => {
    const key = idempotencyKey(request.headers['idempotency-key'])
    // Without a key, the signup's own path, untouched: it is the one a signup flood takes.
    const { id, token, jobs, replayed } = key
      ? await signUpOnce(deps, request.body, key)
      : await signUp(deps, request.body)
    if (replayed) reply.header('idempotent-replayed', 'true')
    return reply.code(201).header('location', `/users/${id}`).send({ id, token, jobs })
  })
}
