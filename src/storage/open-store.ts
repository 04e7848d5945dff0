import type { Config } from '../config.ts'
import { createFolderStore } from './folder-store.ts'
import type { ObjectStore } from './object-store.ts'

/** The store the configuration names: the bucket of STORAGE_URL, else the folder STORAGE_DIR (or DATA_DIR). */
export async function openObjectStore(config: Config): Promise<ObjectStore> {
  if (!config.STORAGE_URL) return createFolderStore(config.storageDir)
  // Loaded only for a bucket: the AWS SDK is tens of MiB that a process on a folder would hold for nothing.
  const { createS3Store } = await import('./s3-store.ts')
  return createS3Store({
    url: config.STORAGE_URL,
    endpoint: config.S3_ENDPOINT,
    region: config.S3_REGION,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    timeoutMs: config.DEPENDENCY_TIMEOUT_MS,
  })
}
