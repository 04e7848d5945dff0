import type { Logger } from 'pino'
import { JobErrorCode, JobFailure } from '../errors.ts'
import { retryDelay } from './backoff.ts'
import type { Job, JobContext, JobErrorInfo, JobHandler, Lane } from './types.ts'

/**
 * What is recorded of a failed attempt: the handler's own code, or INTERNAL for anything unexpected, whose text
 * (a path, a query) is kept as detail for the log and the admin API, never shown to the owner.
 */
export function describeFailure(err: unknown): JobErrorInfo {
  if (err instanceof JobFailure) {
    return err.detail === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, detail: err.detail }
  }
  return {
    code: JobErrorCode.INTERNAL,
    message: 'an internal error; the service log has the details',
    detail: err instanceof Error ? err.message : String(err),
  }
}

/** Whether another attempt could succeed: everything but a JobFailure that says otherwise. */
export const isRetryable = (err: unknown): boolean => !(err instanceof JobFailure) || err.retryable

/** Runs the lane's handler for a job; both backends claim only the kinds a lane has handlers for. */
export async function runHandler(lane: Lane, job: Job, ctx: JobContext): Promise<unknown> {
  return (lane.handlers[job.kind] as JobHandler)(job, ctx)
}

export interface RetryPolicy {
  maxAttempts: number
  retryBaseMs: number
  retryMaxMs: number
}

/** After failed attempt number `attempt` (from 1): try again, and after how long, or give up. */
export function nextAttempt(err: unknown, attempt: number, policy: RetryPolicy): { retry: boolean; delayMs: number } {
  const retry = isRetryable(err) && attempt < policy.maxAttempts
  if (!retry) return { retry, delayMs: 0 }
  // A delay the far end asked for is honoured, up to the cap on any one delay.
  const asked = err instanceof JobFailure ? err.retryAfterMs : undefined
  const delayMs =
    asked === undefined
      ? retryDelay(attempt, policy.retryBaseMs, policy.retryMaxMs)
      : Math.min(asked, policy.retryMaxMs)
  return { retry, delayMs }
}

/**
 * The reason an attempt's signal carries when its job is called off (DELETE /jobs/:id, or superseded): the core
 * tells it from a shutdown's, and records the job cancelled with `error` instead of retrying it.
 */
export class JobCancelled extends Error {
  override name = 'JobCancelled'
  constructor(readonly error: JobErrorInfo) {
    super(error.message)
  }
}

/** The cancellation an attempt's signal carries, if that is why it was aborted. */
export const cancellationOf = (signal: AbortSignal): JobErrorInfo | undefined =>
  signal.aborted && signal.reason instanceof JobCancelled ? signal.reason.error : undefined

/** An attempt under way: what it will settle, and how to cut it off. */
export interface RunningAttempt {
  promise: Promise<unknown>
  abort: AbortController
}

/**
 * Waits up to `ms` for running attempts to finish; then aborts the rest and gives them one more second to
 * notice, so a handler that ignores its signal cannot hold shutdown. Returns whether any had to be aborted.
 */
export async function drain(running: () => RunningAttempt[], ms: number, log: Logger): Promise<boolean> {
  const settled = () => Promise.all(running().map((r) => r.promise))
  let timer: NodeJS.Timeout | undefined
  const timedOut = await Promise.race([
    settled().then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), ms)
    }),
  ])
  clearTimeout(timer)
  if (!timedOut) return false
  const left = running()
  log.warn({ jobs: left.length }, 'grace period over; interrupting running jobs')
  for (const r of left) r.abort.abort(new Error('shutting down'))
  await Promise.race([settled(), new Promise((resolve) => setTimeout(resolve, 1000).unref())])
  return true
}
