import { JobNotFailedError, JobNotFoundError } from '../errors.ts'
import type { Job, JobStore } from './types.ts'

/**
 * A failed job back to queued with a fresh set of attempts: the one admin retry, whether it comes from the
 * admin API or the dashboard. Throws JOB_NOT_FOUND or JOB_NOT_FAILED.
 */
export async function retryFailedJob(queue: JobStore, id: string, now = Date.now()): Promise<Job> {
  const job = await queue.get(id)
  if (!job) throw new JobNotFoundError()
  const requeued = await queue.requeueFailed(job.id, now)
  if (!requeued) throw new JobNotFailedError(job.status)
  return requeued
}
