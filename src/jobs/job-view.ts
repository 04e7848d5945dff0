import type { Job } from './types.ts'

const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString())

/**
 * A job as its owner sees it: no payload (it may hold other people's addresses), no error detail (it may name
 * server paths and hosts), times as ISO strings.
 */
export function jobView(job: Job) {
  const waitingToRetry = job.status === 'queued' && job.attempts > 0
  return {
    id: job.id,
    kind: job.kind,
    status: job.status,
    attempts: job.attempts,
    stage: job.stage ?? undefined,
    createdAt: iso(job.createdAt) as string,
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    nextAttemptAt: waitingToRetry ? iso(job.runAt) : undefined,
    result: job.status === 'succeeded' ? job.result : undefined,
    error: job.lastError ? { code: job.lastError.code, message: job.lastError.message } : undefined,
  }
}

/** A job as the admin API shows it: the owner's view plus whose it is and the error's detail. */
export function adminJobView(job: Job) {
  return { ...jobView(job), ownerId: job.ownerId, error: job.lastError ?? undefined }
}
