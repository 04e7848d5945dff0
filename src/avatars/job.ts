/** The avatar feature's job kind: one per accepted upload, run in the image lane. */
export const AvatarKind = 'image.avatar'

/** What an avatar job carries: whose upload, its place among theirs, and where its original waits. */
export interface AvatarJobPayload {
  userId: string
  /** Order of acceptance among this user's uploads. */
  seq: number
  /** File name of the original under the originals folder. */
  original: string
}
