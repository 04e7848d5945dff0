import path from 'node:path'

/**
 * The node's own files under DATA_DIR. Uploads and avatars are not among them: they are in the object store
 * (open-store.ts), a folder or a bucket. Every name below is made by deckhand: nothing a client sends ever becomes
 * part of a path.
 */
export function storagePaths(dataDir: string) {
  return {
    database: path.join(dataDir, 'deckhand.db'),
    /** Mail written as .eml files when no SMTP_URL is set; not the outbox table, which hands jobs to BullMQ. */
    mailFolder: path.join(dataDir, 'mail'),
    /**
     * Uploads still arriving; anything here at start-up is the remains of an interrupted request. Kept under
     * DATA_DIR, the node's own, so that one api node's restart never touches another's uploads in flight.
     */
    incoming: path.join(dataDir, 'uploads', 'incoming'),
    /** Each running job's scratch folder: an original fetched from the store, the variants before they are put. */
    scratch: path.join(dataDir, 'scratch'),
  }
}

export type StoragePaths = ReturnType<typeof storagePaths>
