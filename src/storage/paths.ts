import path from 'node:path'

/**
 * Where deckhand keeps files: its own state under DATA_DIR, uploads and avatars under STORAGE_DIR (the same
 * folder unless set; shared by every node when there are several). Every name below is made by deckhand
 * (UUIDs, sizes, formats): nothing a client sends ever becomes part of a path.
 */
export function storagePaths(dataDir: string, storageDir: string = dataDir) {
  return {
    database: path.join(dataDir, 'deckhand.db'),
    /** Mail written as .eml files when no SMTP_URL is set; not the outbox table, which hands jobs to BullMQ. */
    mailFolder: path.join(dataDir, 'mail'),
    /**
     * Uploads still arriving; anything here at start-up is the remains of an interrupted request. Kept under
     * DATA_DIR, the node's own, so that one api node's restart never touches another's uploads in flight.
     */
    incoming: path.join(dataDir, 'uploads', 'incoming'),
    /** Accepted originals, kept until their job has finished. */
    originals: path.join(storageDir, 'uploads', 'originals'),
    original: (name: string) => path.join(storageDir, 'uploads', 'originals', name),
    avatars: path.join(storageDir, 'avatars'),
    /** One folder per avatar version (the id of the job that made it). */
    avatarVersion: (userId: string, version: string) => path.join(storageDir, 'avatars', userId, version),
  }
}

/** The file of one variant inside its version folder, e.g. `256.webp`. */
export const variantFileName = (size: number, format: string) => `${size}.${format}`

export type StoragePaths = ReturnType<typeof storagePaths>
