import { JobErrorCode, JobFinishedError, JobNotFoundError } from '../errors.ts'
import type { JobWaiters } from './job-waiters.ts'
import { isFinished } from './statuses.ts'
import type { Job, JobErrorInfo, JobStore } from './types.ts'

/**
 * What a job of one kind leaves behind that nobody will use once it is called off before it ran (an upload's
 * original): the feature that owns the kind removes it. A job stopped while running cleans up in its handler.
 * Best effort: what is left is a sweep's.
 */
export type CancelCleanup = (job: Job) => Promise<void>
export type CancelCleanups = Readonly<Record<string, CancelCleanup>>

/** Why a job is called off, as its owner reads it in `error`. */
export const CANCELLED_BY_REQUEST: JobErrorInfo = {
  code: JobErrorCode.CANCELLED,
  message: 'cancelled at the request of its owner or an admin',
}
export const SUPERSEDED_BY_UPLOAD: JobErrorInfo = {
  code: JobErrorCode.SUPERSEDED,
  message: 'cancelled: a newer upload replaces it',
}

export interface CancelDeps {
  queue: JobStore
  cleanups: CancelCleanups
  /** Told when a job reaches a final state, wherever it ran: a cancel of a running job waits on it. */
  waiters?: JobWaiters
}

/**
 * Calls a job off and returns it as it then is: cancelled, or still running when its runner has not stopped it
 * within `waitMs` (it will be). A job already cancelled is returned as it is: cancelling twice is harmless. Throws
 * JOB_FINISHED for a job that had succeeded or failed, or did so before its runner could stop it.
 */
export async function cancelJob(deps: CancelDeps, job: Job, error: JobErrorInfo, waitMs: number): Promise<Job> {
  if (job.status === 'cancelled') return job
  if (isFinished(job.status)) throw new JobFinishedError(job.status)
  let now = await deps.queue.cancel(job.id, error, Date.now())
  if (!now) throw new JobNotFoundError()
  // Cancelled before it ran: what it would have used goes now. (One stopped while running cleaned up itself.)
  if (now.status === 'cancelled' && now.startedAt === null) await deps.cleanups[now.kind]?.(now).catch(() => {})
  const deadline = Date.now() + waitMs
  while (now.status === 'running' && deps.waiters) {
    const left = deadline - Date.now()
    if (left <= 0) break
    // Settle events are best effort: look again every 100 ms anyway.
    const end = await deps.waiters.wait(job.id, Math.min(left, 100))
    if (end === 'full' || end === 'closed') break
    now = (await deps.queue.get(job.id)) ?? now
  }
  if (now.status === 'succeeded' || now.status === 'failed') throw new JobFinishedError(now.status)
  return now
}
