import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { idempotencyKey } from '../idempotency/key.ts'
import { signupRouteSchema } from '../schemas/signup.ts'
import type { Services } from '../services.ts'
import { signUp, signUpOnce } from '../users/signup.ts'

export const signupRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { SIGNUP_RATE_MAX, SIGNUP_RATE_WINDOW_MS } = services.config
  const rateLimit = SIGNUP_RATE_MAX > 0 ? { max: SIGNUP_RATE_MAX, timeWindow: SIGNUP_RATE_WINDOW_MS } : false
  app.post('/signup', { schema: signupRouteSchema, config: { rateLimit } }, async (request, reply) => {
    const key = idempotencyKey(request.headers['idempotency-key'])
    // Without a key, the signup's own path, untouched: it is the one a signup flood takes.
    const { id, token, jobs, replayed } = key
      ? await signUpOnce(services, request.body, key)
      : await signUp(services, request.body)
    if (replayed) reply.header('idempotent-replayed', 'true')
    return reply.code(201).header('location', `/users/${id}`).send({ id, token, jobs })
  })
}
