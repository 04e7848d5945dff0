/*
 * Where the avatar feature keeps its objects in the store. The names match the folder layout of earlier versions,
 * so a STORAGE_DIR written by them is read as it is.
 */

/** Accepted originals, kept until their job has finished. */
export const ORIGINALS = 'uploads/originals/'
export const originalKey = (name: string) => `${ORIGINALS}${name}`

/** Every user's avatars, one prefix per version (the id of the job that made it). */
export const AVATARS = 'avatars/'
export const versionPrefix = (userId: string, version: string) => `${AVATARS}${userId}/${version}/`
/** The file of one variant inside its version folder (and in a job's scratch folder), e.g. `256.webp`. */
export const variantFileName = (size: number, format: string) => `${size}.${format}`
export const variantKey = (userId: string, version: string, size: number, format: string) =>
  `${versionPrefix(userId, version)}${variantFileName(size, format)}`

/** The user and version of an object under AVATARS, if its key is one. */
export function versionOf(key: string): { user: string; version: string } | undefined {
  const [user, version, file] = key.slice(AVATARS.length).split('/')
  return key.startsWith(AVATARS) && user && version && file ? { user, version } : undefined
}
