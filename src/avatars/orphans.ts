import type { Config } from '../config.ts'
import type { Database } from '../db/database.ts'
import { betweenBatches, type SweepTask, type SweepTaskOptions } from '../jobs/sweeper.ts'
import { isPending, type JobStore } from '../jobs/types.ts'
import type { ObjectStore } from '../storage/object-store.ts'
import { removeOldFiles } from '../storage/old-entries.ts'
import type { StoragePaths } from '../storage/paths.ts'
import { type AvatarJobPayload, AvatarKind } from './job.ts'
import { AVATARS, ORIGINALS, originalKey, versionOf, versionPrefix } from './keys.ts'
import { type AvatarsRepository, createAvatarsRepository } from './repository.ts'

export type OrphanKind = 'incoming' | 'scratch' | 'original' | 'version'

export interface OrphanSweepOptions extends SweepTaskOptions {
  paths: StoragePaths
  store: ObjectStore
  queue: Pick<JobStore, 'get' | 'listAll'>
  avatars: Pick<AvatarsRepository, 'currentVersions'>
  /**
   * Nothing written to more recently is touched: an upload may still be arriving (REQUEST_TIMEOUT_MS bounds
   * that), its original may be waiting for its job's commit, a job may be writing a version folder.
   */
  minAgeMs: number
  /** Sweep DATA_DIR/uploads/incoming: only processes that receive uploads, as it is each node's own. */
  incoming: boolean
  /**
   * Sweep originals and versions in the store, and this node's scratch folders of jobs it no longer runs:
   * processes that run avatar jobs.
   */
  stored: boolean
  /** A scratch folder is left alone this long: IMAGE_TIMEOUT_MS bounds a job's render, minAgeMs its storing. */
  scratchMinAgeMs: number
  onRemoved?: (what: OrphanKind, count: number) => void
}

// Users whose version folders are looked up together: one query for their current versions.
const USERS_PER_BATCH = 200

/**
 * Removes avatar files that nothing points to any more: incoming uploads whose request ended without removing them,
 * scratch folders of jobs a crash cut off, originals whose job is gone (the retention sweep deleted it, or a crash
 * came between the put and the commit), and versions that are not a user's current avatar and whose job is
 * finished or gone (a worker that died mid-write, a crash between promoting and removing the replaced version).
 * The originals of failed jobs thus go within one sweep of their job. Originals and versions are objects of the
 * store, a folder or a bucket alike; an object's age is that of its last write.
 */
export function avatarOrphansTask(options: OrphanSweepOptions): SweepTask {
  const { paths, store, queue, avatars, log } = options
  const clock = options.clock ?? Date.now
  return {
    name: 'avatar orphans',
    async run(stopping) {
      const cutoff = clock() - options.minAgeMs
      const removed: Record<OrphanKind, number> = { incoming: 0, scratch: 0, original: 0, version: 0 }
      const count = (what: OrphanKind, n: number) => {
        removed[what] += n
        if (n > 0) options.onRemoved?.(what, n)
      }
      if (options.incoming) count('incoming', await removeOldFiles(paths.incoming, cutoff))
      if (options.stored) count('scratch', await removeOldFiles(paths.scratch, clock() - options.scratchMinAgeMs))
      if (options.stored && !stopping()) count('original', await sweepOriginals(cutoff))
      if (options.stored && !stopping()) count('version', await sweepVersions(cutoff, stopping))
      if (Object.values(removed).some((n) => n > 0)) {
        log.info(removed, 'removed avatar files nothing points to')
      }
    },
  }

  async function sweepOriginals(cutoff: number): Promise<number> {
    const old: string[] = []
    for await (const object of store.list(ORIGINALS)) {
      if (object.modifiedMs < cutoff) old.push(object.key.slice(ORIGINALS.length))
    }
    if (old.length === 0) return 0
    // Jobs that hold an original: pending, or failed and kept for an admin's retry (a succeeded job removed its
    // own). Read in one go after the listing, so a job requeued meanwhile was still seen as failed, and held.
    const holding = await queue.listAll(AvatarKind, ['queued', 'running', 'failed'])
    const held = new Set(holding.map((job) => (job.payload as AvatarJobPayload).original))
    const orphans = old.filter((name) => !held.has(name))
    for (const name of orphans) await store.delete(originalKey(name))
    return orphans.length
  }

  /** Versions are read from the listing in key order, so one user's come together; looked up in batches of users. */
  async function sweepVersions(cutoff: number, stopping: () => boolean): Promise<number> {
    let removed = 0
    // Each version's newest object: a version still being written has a young one.
    let batch = new Map<string, Map<string, number>>()
    const flush = async () => {
      removed += await sweepUsers(batch, cutoff)
      batch = new Map()
      await betweenBatches()
    }
    for await (const object of store.list(AVATARS)) {
      const at = versionOf(object.key)
      if (!at) continue
      if (!batch.has(at.user)) {
        if (stopping()) return removed
        if (batch.size >= USERS_PER_BATCH) await flush()
        batch.set(at.user, new Map())
      }
      const versions = batch.get(at.user) as Map<string, number>
      versions.set(at.version, Math.max(versions.get(at.version) ?? 0, object.modifiedMs))
    }
    if (batch.size > 0) await flush()
    return removed
  }

  async function sweepUsers(batch: Map<string, Map<string, number>>, cutoff: number): Promise<number> {
    const old: { user: string; version: string }[] = []
    for (const [user, versions] of batch) {
      for (const [version, newest] of versions) if (newest < cutoff) old.push({ user, version })
    }
    if (old.length === 0) return 0
    // Most old versions are current avatars: set those aside with one query before looking jobs up.
    const before = await avatars.currentVersions([...new Set(old.map((o) => o.user))])
    const notCurrent = old.filter((o) => before.get(o.user) !== o.version)
    const finished: typeof old = []
    for (const o of notCurrent) if (!isPending(await queue.get(o.version))) finished.push(o)
    if (finished.length === 0) return 0
    // The avatar is read again after the job: a job promotes before it is recorded succeeded, so a version whose
    // job was seen finished and that is still not current now will never be current.
    const now = await avatars.currentVersions([...new Set(finished.map((o) => o.user))])
    const orphans = finished.filter((o) => now.get(o.user) !== o.version)
    for (const o of orphans) await store.deletePrefix(versionPrefix(o.user, o.version))
    return orphans.length
  }
}

/** What the avatar job's sweep of its files is made from, in every process. */
export interface AvatarSweepParts extends SweepTaskOptions {
  config: Pick<Config, 'REQUEST_TIMEOUT_MS' | 'IMAGE_TIMEOUT_MS'>
  database: Database
  paths: StoragePaths
  store: ObjectStore
  queue: Pick<JobStore, 'get' | 'listAll'>
  metrics: { observeFilesSwept(what: string, count: number): void }
  /** This process receives requests: uploads arrive in its own incoming folder. */
  servesApi: boolean
  /** This process runs jobs: it writes originals' variants, and scratch folders of its own. */
  runsJobs: boolean
}

/** The avatar job's files, swept in every process: incoming uploads where the api runs, the rest where jobs run. */
export function avatarOrphansSweep(parts: AvatarSweepParts): SweepTask {
  const { config } = parts
  return avatarOrphansTask({
    paths: parts.paths,
    store: parts.store,
    queue: parts.queue,
    avatars: createAvatarsRepository(parts.database),
    // Node ends a request after REQUEST_TIMEOUT_MS; a minute more covers its handler's last steps (the sniff, the
    // move, the commit) on a slow disk.
    minAgeMs: config.REQUEST_TIMEOUT_MS + 60_000,
    incoming: parts.servesApi,
    stored: parts.runsJobs,
    scratchMinAgeMs: config.IMAGE_TIMEOUT_MS + config.REQUEST_TIMEOUT_MS + 60_000,
    log: parts.log,
    clock: parts.clock,
    onRemoved: (what, count) => parts.metrics.observeFilesSwept(what, count),
  })
}
