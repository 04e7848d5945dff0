import type { Config } from '../config.ts'
import type { Database } from '../db/database.ts'
import { imageLane } from '../images/lane.ts'
import type { ImagePool } from '../images/pool.ts'
import { defineJobKind } from '../jobs/kind.ts'
import type { ObjectStore } from '../storage/object-store.ts'
import type { StoragePaths } from '../storage/paths.ts'
import { FALLBACK_FORMAT } from './formats.ts'
import { AvatarJobPayload, AvatarKind } from './job.ts'
import { avatarOrphansSweep } from './orphans.ts'
import { avatarHandler } from './process.ts'
import { renderAvatarTask } from './render.ts'
import { createAvatarsRepository } from './repository.ts'
import { avatarCancelCleanup, avatarRetryCheck } from './retry-check.ts'

/** What the avatar job's handler is made from, where jobs run. */
export interface AvatarParts {
  config: Pick<Config, 'avatarSizes' | 'avatarFormats' | 'MAX_INPUT_PIXELS' | 'IMAGE_TIMEOUT_MS'>
  database: Database
  pool: ImagePool
  paths: StoragePaths
  store: ObjectStore
}

/**
 * One accepted upload made into its avatar's variants, in the image pool. Fair, so one user's backlog of uploads
 * does not hold up another's avatar; counted per owner (MAX_PENDING_JOBS_PER_USER); its end is told to the owner's
 * webhook; its files are swept when nothing points to them any more.
 */
export const avatarJob = defineJobKind({
  name: AvatarKind,
  payload: AvatarJobPayload,
  lane: imageLane,
  fair: true,
  countedPerOwner: true,
  events: { succeeded: 'avatar.ready', failed: 'avatar.failed' },
  handler: ({ config, database, pool, paths, store }: AvatarParts) =>
    avatarHandler({
      pool,
      avatars: createAvatarsRepository(database),
      paths,
      store,
      sizes: config.avatarSizes,
      formats: [...config.avatarFormats, FALLBACK_FORMAT],
      maxPixels: config.MAX_INPUT_PIXELS,
      timeoutMs: config.IMAGE_TIMEOUT_MS,
    }),
  retryCheck: ({ store }: { store: ObjectStore }) => avatarRetryCheck(store),
  cancelCleanup: ({ store }: { store: ObjectStore }) => avatarCancelCleanup(store),
  poolTasks: [renderAvatarTask],
  // Uploads, originals, variants and scratch folders that nothing points to any more.
  sweep: avatarOrphansSweep,
})
