import path from 'node:path'

/**
 * Where deckhand keeps files under DATA_DIR. Every name below is made by deckhand (UUIDs, sizes, formats):
 * nothing a client sends ever becomes part of a path.
 */
export function storagePaths(dataDir: string) {
  return {
    database: path.join(dataDir, 'deckhand.db'),
    outbox: path.join(dataDir, 'outbox'),
    /** Uploads still arriving; anything here at start-up is the remains of an interrupted request. */
    incoming: path.join(dataDir, 'uploads', 'incoming'),
    /** Accepted originals, kept until their job has finished. */
    originals: path.join(dataDir, 'uploads', 'originals'),
    original: (name: string) => path.join(dataDir, 'uploads', 'originals', name),
    avatars: path.join(dataDir, 'avatars'),
    /** One folder per avatar version (the id of the job that made it). */
    avatarVersion: (userId: string, version: string) => path.join(dataDir, 'avatars', userId, version),
  }
}

/** The file of one variant inside its version folder, e.g. `256.webp`. */
export const variantFileName = (size: number, format: string) => `${size}.${format}`

export type StoragePaths = ReturnType<typeof storagePaths>
