import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { signupRouteSchema } from '../schemas/signup.ts'
import type { Services } from '../services.ts'
import { signUp } from '../users/signup.ts'

export const signupRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { SIGNUP_RATE_MAX, SIGNUP_RATE_WINDOW_MS } = services.config
  const rateLimit = SIGNUP_RATE_MAX > 0 ? { max: SIGNUP_RATE_MAX, timeWindow: SIGNUP_RATE_WINDOW_MS } : false
  app.post('/signup', { schema: signupRouteSchema, config: { rateLimit } }, async (request, reply) => {
    const { id, token, jobs } = await signUp(services, request.body)
    return reply
      .code(201)
      .header('location', `/users/${id}`)
      .send({ id, token, jobs: jobs.map((j) => ({ id: j.id, kind: j.kind })) })
  })
}
