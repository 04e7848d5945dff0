import { JobNotFailedError, JobNotFoundError, JobNotRetryableError } from '../errors.ts'
import type { Job, JobStore } from './types.ts'

/**
 * Why a failed job of one kind cannot succeed if run again (its input is gone, the input itself is at fault), or
 * undefined when it can. The feature that owns the kind provides it, next to its handler: the machinery here knows
 * no kind.
 */
export type RetryCheck = (job: Job) => Promise<string | undefined>
export type RetryChecks = Readonly<Record<string, RetryCheck>>

/** Why a failed job's kind refuses a retry of it; undefined when a retry would be taken. */
export async function retryRefusal(job: Job, checks: RetryChecks): Promise<string | undefined> {
  return checks[job.kind]?.(job)
}

/**
 * A failed job back to queued with a fresh set of attempts: the one admin retry, whether it comes from the
 * admin API or the dashboard. Throws JOB_NOT_FOUND, JOB_NOT_FAILED, or JOB_NOT_RETRYABLE when its kind says a
 * new run cannot succeed (rather than answering 202 for a job bound to fail again).
 */
export async function retryFailedJob(queue: JobStore, id: string, checks: RetryChecks, now = Date.now()): Promise<Job> {
  const job = await queue.get(id)
  if (!job) throw new JobNotFoundError()
  if (job.status !== 'failed') throw new JobNotFailedError(job.status)
  const refusal = await retryRefusal(job, checks)
  if (refusal) throw new JobNotRetryableError(refusal)
  const requeued = await queue.requeueFailed(job.id, now)
  if (!requeued) throw new JobNotFailedError(job.status)
  return requeued
}
