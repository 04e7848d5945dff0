import { createHash, randomUUID } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { type Database, transact } from '../db/database.ts'
import { EmptyUploadError, UnsupportedMediaTypeError, uploadTooLarge } from '../errors.ts'
import { requestFingerprint } from '../idempotency/fingerprint.ts'
import type { IdempotencyGuard, RecordAnswer } from '../idempotency/guard.ts'
import { checkDimensions } from '../images/dimensions.ts'
import { SNIFF_BYTES, sniffImageType } from '../images/sniff.ts'
import { type CancelCleanups, cancelJob, SUPERSEDED_BY_UPLOAD } from '../jobs/cancel.ts'
import { isPending, type Job, type JobStore } from '../jobs/types.ts'
import { removeFile } from '../storage/files.ts'
import type { ObjectStore } from '../storage/object-store.ts'
import type { StoragePaths } from '../storage/paths.ts'
import { receiveToFile, TooManyBytes } from '../storage/receive.ts'
import type { AvatarJobPayload } from './job.ts'
import { originalKey } from './keys.ts'
import { avatarJob } from './kind.ts'
import type { AvatarsRepository } from './repository.ts'

export interface AcceptDeps {
  database: Database
  queue: JobStore
  avatars: AvatarsRepository
  paths: StoragePaths
  store: ObjectStore
  idempotency: IdempotencyGuard
  maxUploadBytes: number
  maxInputPixels: number
  /** Cancel the user's older avatar job still queued or running (SUPERSEDE_AVATAR_UPLOADS). */
  supersede: boolean
  cancelCleanups: CancelCleanups
  /** Told when an older job could not be cancelled (the new one is accepted regardless; the last upload wins). */
  onSupersedeFailed(err: unknown, jobId: string): void
}

/** An upload as it arrives. */
export interface Upload {
  body: Readable
  /**
   * How the bytes came: the Content-Type, or the multipart part's field, file name and type. With the bytes, what
   * a retry must repeat to be the same request.
   */
  form: string
}

export interface AcceptedUpload {
  jobId: string
  /** A retry's answer (same Idempotency-Key, same upload): the first upload's job, nothing queued again. */
  replayed: boolean
}

/**
 * Takes an avatar upload from the wire to the journal: streamed to disk under the byte limit, its type sniffed
 * from its first bytes, its declared dimensions checked from the header (nothing decoded), then stored and its
 * job queued in one transaction. When this returns, the original is in the store (on disk, or in the bucket) and
 * the job in the journal: a store out of reach fails the upload (503) before anything is acknowledged. With an
 * Idempotency-Key (scoped to the user), a retry of an accepted upload gets its job again.
 */
export async function acceptAvatarUpload(
  deps: AcceptDeps,
  userId: string,
  upload: Upload,
  key?: string,
): Promise<AcceptedUpload> {
  const call = key === undefined ? undefined : deps.idempotency.begin(userId, key)
  try {
    const { paths } = deps
    await fs.mkdir(paths.incoming, { recursive: true })
    const uploadId = randomUUID()
    const incoming = path.join(paths.incoming, uploadId)
    const digest = call && createHash('sha256')
    // The first bytes, for the type, kept as they pass: the file is not opened again to read them.
    const head = new Uint8Array(SNIFF_BYTES)
    let headBytes = 0
    let bytes: number
    try {
      bytes = await receiveToFile(upload.body, incoming, deps.maxUploadBytes, (chunk) => {
        if (headBytes < SNIFF_BYTES) {
          const part = chunk.subarray(0, SNIFF_BYTES - headBytes)
          head.set(part, headBytes)
          headBytes += part.length
        }
        digest?.update(chunk)
      })
    } catch (err) {
      if (err instanceof TooManyBytes) throw uploadTooLarge(deps.maxUploadBytes)
      throw err
    }
    try {
      const received = { file: incoming, bytes, head: head.subarray(0, headBytes) }
      if (!call || !digest) return { jobId: await storeUpload(deps, userId, uploadId, received), replayed: false }
      const body = JSON.stringify([upload.form, digest.digest('base64url')])
      const fingerprint = requestFingerprint({ method: 'PUT', route: '/users/:id/avatar', owner: userId, body })
      const { result, replayed } = await deps.idempotency.run(call, fingerprint, {
        replay: (answer) => (answer.body as { jobId: string }).jobId,
        perform: (record) => storeUpload(deps, userId, uploadId, received, record),
      })
      return { jobId: result, replayed }
    } finally {
      await removeFile(incoming)
    }
  } finally {
    call?.release()
  }
}

/** An upload on disk: its file, its size and its first bytes (up to SNIFF_BYTES). */
interface Received {
  file: string
  bytes: number
  head: Uint8Array
}

/** Checks the received file, stores it and queues its job; `record` keeps the answer in the same transaction. */
async function storeUpload(
  deps: AcceptDeps,
  userId: string,
  uploadId: string,
  { file: incoming, bytes, head }: Received,
  record?: RecordAnswer,
): Promise<string> {
  if (bytes === 0) throw new EmptyUploadError()
  const type = sniffImageType(head)
  if (!type) {
    throw new UnsupportedMediaTypeError(
      'Expected a JPEG, PNG, WebP, AVIF, GIF or TIFF image but received something else',
    )
  }
  await checkDimensions(incoming, deps.maxInputPixels)

  const name = `${uploadId}.${type}`
  await deps.store.putFile(originalKey(name), incoming)
  let accepted: { jobId: string; previous: string | undefined }
  try {
    accepted = await transact(deps.database, async (tx) => {
      const { seq, previous } = await deps.avatars.recordUpload(userId, tx.db)
      const payload: AvatarJobPayload = { userId, seq, original: name }
      const [job] = (await deps.queue.enqueue(tx, [avatarJob.job(userId, payload)])) as [Job]
      await deps.avatars.setLatestJob(userId, job.id, tx.db)
      await record?.(tx, { status: 202, body: { jobId: job.id }, tokenSalt: null })
      return { jobId: job.id, previous }
    })
  } catch (err) {
    // Best effort: with the store out of reach too, the orphan sweep takes the original later.
    await deps.store.delete(originalKey(name)).catch(() => {})
    throw err
  }
  if (deps.supersede && accepted.previous) await supersede(deps, accepted.previous)
  return accepted.jobId
}

/**
 * Cancels the job of the upload this one replaces, if it is still on its way. Each upload cancels the one before
 * it (the users row orders them), so a burst leaves only its last to be made. Its promotion would lose to this one's
 * anyway (seq); cancelling spares the work. Not waited for when it runs: its runner stops it within moments.
 */
async function supersede(deps: AcceptDeps, previous: string): Promise<void> {
  try {
    const job = await deps.queue.get(previous)
    if (job && isPending(job))
      await cancelJob({ queue: deps.queue, cleanups: deps.cancelCleanups }, job, SUPERSEDED_BY_UPLOAD, 0)
  } catch (err) {
    // Finished in the meantime (JOB_FINISHED), or the queue out of reach: the older job runs, and loses to this one.
    deps.onSupersedeFailed(err, previous)
  }
}
