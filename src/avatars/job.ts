import { type Static, Type } from 'typebox'

/** The avatar feature's job kind's name (avatars/kind.ts): one job per accepted upload, run in the image lane. */
export const AvatarKind = 'image.avatar'

/** What an avatar job carries: whose upload, its place among theirs, and where its original waits. */
export const AvatarJobPayload = Type.Object({
  userId: Type.String(),
  /** Order of acceptance among this user's uploads. */
  seq: Type.Integer({ minimum: 0 }),
  /** File name of the original under the originals folder. */
  original: Type.String({ minLength: 1 }),
})
export type AvatarJobPayload = Static<typeof AvatarJobPayload>
