import { JOB_STATUSES, type JobStatus } from './statuses.ts'
import type { Job, JobStore } from './types.ts'

/**
 * The newest jobs, of one status or of all (each status's newest merged, newest first), optionally of one kind:
 * the stores list one status at a time, so every backend answers the same.
 */
export async function listNewestJobs(
  queue: JobStore,
  filter: { status?: JobStatus | undefined; kind?: string | undefined; limit: number },
): Promise<Job[]> {
  const statuses = filter.status ? [filter.status] : JOB_STATUSES
  const lists = await Promise.all(
    statuses.map((status) => queue.list({ status, kind: filter.kind, limit: filter.limit })),
  )
  return lists
    .flat()
    .sort((a, b) => b.createdAt - a.createdAt)
    .slice(0, filter.limit)
}
