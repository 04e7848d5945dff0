import { Type } from 'typebox'
import { AvatarView } from './avatars.ts'
import { ErrorRef, Id, IdParams, Nullable } from './common.ts'

export const UserProfile = Type.Object({
  id: Id,
  name: Nullable(Type.String()),
  avatar: AvatarView,
})

export const getUserRouteSchema = {
  summary: "A user's public profile (no e-mail)",
  params: IdParams,
  response: { 200: UserProfile, 400: ErrorRef, 404: ErrorRef },
}
