import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { avatarView } from '../avatars/view.ts'
import { UserNotFoundError } from '../errors.ts'
import { AvatarKind } from '../jobs/handlers/avatar.ts'
import { getUserRouteSchema } from '../schemas/users.ts'
import type { Services } from '../services.ts'

export const usersRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/users/:id', { schema: getUserRouteSchema }, async (request) => {
    const user = services.users.findById(request.params.id)
    if (!user) throw new UserNotFoundError()
    const pending = services.queue.hasPending(user.id, AvatarKind)
    return { id: user.id, name: user.name, avatar: avatarView(user.id, services.avatars.current(user.id), pending) }
  })
}
