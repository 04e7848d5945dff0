import { JobErrorCode, JobFailure } from '../errors.ts'
import type { JobErrorInfo } from './types.ts'

/** What clients see of a failed attempt: the handler's own code, or INTERNAL for anything unexpected. */
export function describeFailure(err: unknown): JobErrorInfo {
  if (err instanceof JobFailure) return { code: err.code, message: err.message }
  return { code: JobErrorCode.INTERNAL, message: err instanceof Error ? err.message : String(err) }
}

/** Whether another attempt could succeed: everything but a JobFailure that says otherwise. */
export const isRetryable = (err: unknown): boolean => !(err instanceof JobFailure) || err.retryable
