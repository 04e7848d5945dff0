import type { Readable } from 'node:stream'

/** One stored object as a listing sees it. */
export interface StoredObject {
  /** Its key, as given to `putFile`. */
  key: string
  bytes: number
  /** When it was last written: the sweeps keep away from what may still be being written by this alone. */
  modifiedMs: number
}

/**
 * How an object is to be served by the store itself, to a client sent there (a presigned URL, a CDN in front of
 * the bucket). A folder keeps none: deckhand serves its files and sets these headers as it does.
 */
export interface ObjectHeaders {
  contentType?: string
  cacheControl?: string
}

/**
 * Where uploads and avatars live: a folder (STORAGE_DIR) or a bucket (STORAGE_URL). Keys are `/`-separated
 * names made by the features (never by a client); a key ending in `/` is a prefix. Calls that cannot reach the
 * store throw DependencyDown('storage'), so that a request answers 503 and a job is tried again.
 */
export interface ObjectStore {
  /**
   * Stores the local `file` under `key`, durably: when this resolves the object survives a crash. The local file
   * is consumed (a folder moves it in; a bucket uploads it and leaves its removal to the caller's cleanup).
   * A bucket stores `headers` with the object and answers with them.
   */
  putFile(key: string, file: string, headers?: ObjectHeaders): Promise<void>
  /** Writes the object into the local `file`; false when there is no such object. */
  getFile(key: string, file: string): Promise<boolean>
  /** The object's bytes as a stream; undefined when there is no such object. */
  get(key: string): Promise<Readable | undefined>
  head(key: string): Promise<StoredObject | undefined>
  /** Removes one object; one that is already gone is no error. */
  delete(key: string): Promise<void>
  /** Removes every object under `prefix`; returns how many. */
  deletePrefix(prefix: string): Promise<number>
  /** Every object under `prefix`, in key order, read page by page. */
  list(prefix: string): AsyncIterable<StoredObject>
  /**
   * A URL at which anybody may fetch the object for `expiresInSeconds`, for a client or a CDN sent there
   * instead of through deckhand; undefined when the store has no such URLs (a folder).
   */
  signedUrl(key: string, expiresInSeconds: number): Promise<string | undefined>
  /** Whether the store answers now, within its deadline: for /readyz. */
  check(): Promise<void>
  close(): void
}
