import { JobErrorCode } from '../errors.ts'
import type { CancelCleanup } from '../jobs/cancel.ts'
import type { RetryCheck } from '../jobs/retry.ts'
import type { ObjectStore } from '../storage/object-store.ts'
import type { AvatarJobPayload } from './job.ts'
import { originalKey } from './keys.ts'

/** Failures that are the image's own fault: the handler deletes the original when it meets one. */
const IMAGE_FAULTS: ReadonlySet<string> = new Set([JobErrorCode.IMAGE_UNDECODABLE, JobErrorCode.IMAGE_TOO_LARGE])

/**
 * Whether an admin's retry of a failed avatar job can succeed. Not when the image itself was at fault: it would fail
 * the same way, and its original is deleted. Not when the original is gone for any other reason: the job would fail
 * as INTERNAL "the uploaded original is missing". A worker's crash or a timeout keeps the original, and may retry.
 */
export function avatarRetryCheck(store: ObjectStore): RetryCheck {
  return async (job) => {
    const code = job.lastError?.code
    if (code && IMAGE_FAULTS.has(code))
      return `the image itself cannot be made into an avatar (${code}); upload another`
    const { original } = job.payload as AvatarJobPayload
    if (!(await store.head(originalKey(original)))) return 'its uploaded original is gone; upload the image again'
    return undefined
  }
}

/** An avatar job called off before it ran: its original will never be read. */
export function avatarCancelCleanup(store: ObjectStore): CancelCleanup {
  return async (job) => {
    await store.delete(originalKey((job.payload as AvatarJobPayload).original))
  }
}
