import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AvatarsRepository } from '../avatars/repository.ts'
import { avatarView } from '../avatars/view.ts'
import { UserNotFoundError } from '../errors.ts'
import type { JobStore } from '../jobs/types.ts'
import { isPending } from '../jobs/types.ts'
import { getUserRouteSchema } from '../schemas/users.ts'
import type { UsersRepository } from '../users/repository.ts'

export interface UsersRouteDeps {
  users: UsersRepository
  avatars: AvatarsRepository
  queue: JobStore
}

export const usersRoutes: FastifyPluginAsyncTypebox<{ deps: UsersRouteDeps }> = async (app, { deps }) => {
  app.get('/users/:id', { schema: getUserRouteSchema }, async (request) => {
    const user = await deps.users.findById(request.params.id)
    if (!user) throw new UserNotFoundError()
    const [current, latest] = await Promise.all([
      deps.avatars.current(user.id),
      user.avatarJob === null ? undefined : deps.queue.get(user.avatarJob),
    ])
    const pending = isPending(latest)
    return { id: user.id, name: user.name, avatar: avatarView(user.id, current, pending) }
  })
}
