import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { authenticate } from '../auth/tokens.ts'
import type { Config } from '../config.ts'
import { ForbiddenError, WebhookNotFoundError } from '../errors.ts'
import { deleteWebhookRouteSchema, getWebhookRouteSchema, putWebhookRouteSchema } from '../schemas/webhooks.ts'
import type { UsersRepository } from '../users/repository.ts'
import type { WebhooksRepository } from '../webhooks/repository.ts'
import { setWebhook } from '../webhooks/settings.ts'

export interface WebhooksRouteDeps {
  config: Pick<Config, 'WEBHOOK_ALLOW_INSECURE' | 'WEBHOOK_ALLOW_PRIVATE'>
  users: UsersRepository
  webhooks: WebhooksRepository
}

export const webhooksRoutes: FastifyPluginAsyncTypebox<{ deps: WebhooksRouteDeps }> = async (app, { deps }) => {
  const { webhooks, config } = deps
  const policy = { allowInsecure: config.WEBHOOK_ALLOW_INSECURE, allowPrivate: config.WEBHOOK_ALLOW_PRIVATE }
  // Only the user: a webhook says where their events go, and its secret signs them.
  const onlyTheUser = async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const user = await authenticate(deps.users, request.headers.authorization)
    if (user.id !== request.params.id) throw new ForbiddenError("Only the user may see or change the user's webhook")
  }

  app.put('/users/:id/webhook', { schema: putWebhookRouteSchema, onRequest: onlyTheUser }, async (request) =>
    setWebhook(webhooks, policy, request.params.id, request.body.url),
  )

  app.get('/users/:id/webhook', { schema: getWebhookRouteSchema, onRequest: onlyTheUser }, async (request) => {
    const hook = await webhooks.get(request.params.id)
    if (!hook) throw new WebhookNotFoundError()
    return { url: hook.url }
  })

  app.delete(
    '/users/:id/webhook',
    { schema: deleteWebhookRouteSchema, onRequest: onlyTheUser },
    async (request, reply) => {
      await webhooks.remove(request.params.id)
      return reply.code(204).send(null)
    },
  )
}
