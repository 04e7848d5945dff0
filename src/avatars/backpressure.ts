import fs from 'node:fs/promises'
import type { JobStore } from '../jobs/types.ts'
import { AvatarKind } from './job.ts'

export interface BackpressureLimits {
  queue: JobStore
  /** Other uploads still arriving in this process: each will become a job. */
  arriving: number
  /** The folder whose disk must keep MIN_FREE_DISK_BYTES: STORAGE_DIR, or DATA_DIR (where uploads arrive) with a bucket. */
  storageDir: string
  maxPendingJobs: number
  minFreeDiskBytes: number
}

/**
 * Why uploads should pause now, or undefined. Accepting work the service cannot finish, or cannot store,
 * would turn a 202 into a broken promise; a 503 with Retry-After tells the client to come back instead.
 */
export async function uploadPauseReason(limits: BackpressureLimits): Promise<string | undefined> {
  const pending = (await limits.queue.pendingCount(AvatarKind)) + limits.arriving
  if (pending >= limits.maxPendingJobs) {
    return `${pending} image jobs are waiting or arriving (limit ${limits.maxPendingJobs})`
  }
  if (limits.minFreeDiskBytes > 0) {
    const { bavail, bsize } = await fs.statfs(limits.storageDir)
    const free = bavail * bsize
    if (free < limits.minFreeDiskBytes) {
      return `${free} bytes free on the disk that receives uploads (floor ${limits.minFreeDiskBytes})`
    }
  }
  return undefined
}

export interface UserShareLimits {
  queue: JobStore
  userId: string
  /** This user's other uploads still arriving in this process. */
  arriving: number
  /** MAX_PENDING_JOBS_PER_USER; 0 is no share. */
  perUser: number
}

/**
 * Why this user's uploads should wait, or undefined: its own jobs and uploads have filled its share of the
 * backlog. Checked after the service's own limit, so the answer is 429 (this client's doing) only while the
 * service would take others' uploads; one user's burst then waits alone instead of pausing everyone's.
 */
export async function userShareFullReason(limits: UserShareLimits): Promise<string | undefined> {
  if (limits.perUser === 0) return undefined
  const pending = (await limits.queue.pendingCountOf(AvatarKind, limits.userId)) + limits.arriving
  if (pending < limits.perUser) return undefined
  return `${pending} of them are waiting or arriving (this user's share is ${limits.perUser})`
}
