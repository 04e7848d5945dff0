import path from 'node:path'
import { betweenBatches, type SweepTask, type SweepTaskOptions } from '../jobs/sweeper.ts'
import { isPending, type JobStore } from '../jobs/types.ts'
import { oldEntries, removeAll, removeOldFiles, subfolders } from '../storage/old-entries.ts'
import type { StoragePaths } from '../storage/paths.ts'
import { type AvatarJobPayload, AvatarKind } from './job.ts'
import type { AvatarsRepository } from './repository.ts'

export type OrphanKind = 'incoming' | 'original' | 'version'

export interface OrphanSweepOptions extends SweepTaskOptions {
  paths: StoragePaths
  queue: Pick<JobStore, 'get' | 'listAll'>
  avatars: Pick<AvatarsRepository, 'currentVersions'>
  /**
   * Nothing written to more recently is touched: an upload may still be arriving (REQUEST_TIMEOUT_MS bounds
   * that), its original may be waiting for its job's commit, a job may be writing a version folder.
   */
  minAgeMs: number
  /** Sweep DATA_DIR/uploads/incoming: only processes that receive uploads, as it is each node's own. */
  incoming: boolean
  /** Sweep originals and version folders under STORAGE_DIR: processes that run avatar jobs. */
  stored: boolean
  onRemoved?: (what: OrphanKind, count: number) => void
}

// Users whose version folders are looked up together: one query for their current versions.
const USERS_PER_BATCH = 200

/**
 * Removes avatar files that nothing points to any more: incoming uploads whose request ended without removing them,
 * originals whose job is gone (the retention sweep deleted it, or a crash came between the move and the
 * commit), and version folders that are not a user's current avatar and whose job is finished or gone (a worker
 * that died mid-write, a crash between promoting and removing the replaced version). The originals of failed
 * jobs thus go within one sweep of their job.
 */
export function avatarOrphansTask(options: OrphanSweepOptions): SweepTask {
  const { paths, queue, avatars, log } = options
  const clock = options.clock ?? Date.now
  return {
    name: 'avatar orphans',
    async run(stopping) {
      const cutoff = clock() - options.minAgeMs
      const removed: Record<OrphanKind, number> = { incoming: 0, original: 0, version: 0 }
      const count = (what: OrphanKind, n: number) => {
        removed[what] += n
        if (n > 0) options.onRemoved?.(what, n)
      }
      if (options.incoming) count('incoming', await removeOldFiles(paths.incoming, cutoff))
      if (options.stored && !stopping()) count('original', await sweepOriginals(cutoff))
      if (options.stored && !stopping()) count('version', await sweepVersions(cutoff, stopping))
      if (removed.incoming + removed.original + removed.version > 0) {
        log.info(removed, 'removed avatar files nothing points to')
      }
    },
  }

  async function sweepOriginals(cutoff: number): Promise<number> {
    const old = await oldEntries(paths.originals, cutoff)
    if (old.length === 0) return 0
    // Jobs that hold an original: pending, or failed and kept for an admin's retry (a succeeded job removed its
    // own). Read in one go after the listing, so a job requeued meanwhile was still seen as failed, and held.
    const holding = await queue.listAll(AvatarKind, ['queued', 'running', 'failed'])
    const held = new Set(holding.map((job) => (job.payload as AvatarJobPayload).original))
    return removeAll(old.filter((name) => !held.has(name)).map((name) => path.join(paths.originals, name)))
  }

  async function sweepVersions(cutoff: number, stopping: () => boolean): Promise<number> {
    let removed = 0
    let users: string[] = []
    const flush = async () => {
      removed += await sweepUsers(users, cutoff)
      users = []
      await betweenBatches()
    }
    for (const user of await subfolders(paths.avatars)) {
      if (stopping()) return removed
      users.push(user)
      if (users.length >= USERS_PER_BATCH) await flush()
    }
    if (users.length > 0) await flush()
    return removed
  }

  async function sweepUsers(users: string[], cutoff: number): Promise<number> {
    const old: { user: string; version: string }[] = []
    for (const user of users) {
      for (const version of await oldEntries(path.join(paths.avatars, user), cutoff)) old.push({ user, version })
    }
    if (old.length === 0) return 0
    // Most old folders are current avatars: set those aside with one query before looking jobs up.
    const before = await avatars.currentVersions([...new Set(old.map((o) => o.user))])
    const notCurrent = old.filter((o) => before.get(o.user) !== o.version)
    const finished: typeof old = []
    for (const o of notCurrent) if (!isPending(await queue.get(o.version))) finished.push(o)
    if (finished.length === 0) return 0
    // The avatar is read again after the job: a job promotes before it is recorded succeeded, so a folder whose
    // job was seen finished and that is still not current now will never be current.
    const now = await avatars.currentVersions([...new Set(finished.map((o) => o.user))])
    return removeAll(
      finished.filter((o) => now.get(o.user) !== o.version).map((o) => paths.avatarVersion(o.user, o.version)),
    )
  }
}
