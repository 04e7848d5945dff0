import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { signupRouteSchema } from '../schemas/signup.ts'
import type { Services } from '../services.ts'
import { signUp } from '../users/signup.ts'

export const signupRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.post('/signup', { schema: signupRouteSchema }, async (request, reply) => {
    const { id, token, jobs } = signUp(services, request.body)
    services.dispatcher.wake()
    return reply
      .code(201)
      .header('location', `/users/${id}`)
      .send({ id, token, jobs: jobs.map((j) => ({ id: j.id, kind: j.kind })) })
  })
}
