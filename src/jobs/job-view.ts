import type { Job } from './types.ts'

const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString())

/** A job as clients see it: no payload (it may hold other people's addresses), times as ISO strings. */
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
    error: job.lastError ?? undefined,
  }
}
