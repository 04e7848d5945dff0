import type { Config } from '../config.ts'
import { createFolderStore } from './folder-store.ts'
import type { ObjectStore } from './object-store.ts'
import { createS3Store } from './s3-store.ts'

/** The store the configuration names: the bucket of STORAGE_URL, else the folder STORAGE_DIR (or DATA_DIR). */
export function openObjectStore(config: Config): ObjectStore {
  if (!config.STORAGE_URL) return createFolderStore(config.storageDir)
  return createS3Store({
    url: config.STORAGE_URL,
    endpoint: config.S3_ENDPOINT,
    region: config.S3_REGION,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    timeoutMs: config.DEPENDENCY_TIMEOUT_MS,
  })
}
