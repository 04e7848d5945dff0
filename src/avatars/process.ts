import fs from 'node:fs/promises'
import path from 'node:path'
import { JobErrorCode, JobFailure } from '../errors.ts'
import type { ImagePool } from '../images/pool.ts'
import { cancellationOf } from '../jobs/attempt.ts'
import type { JobHandler } from '../jobs/types.ts'
import { removeFolder } from '../storage/files.ts'
import type { ObjectStore } from '../storage/object-store.ts'
import type { StoragePaths } from '../storage/paths.ts'
import { contentTypeOf, type OutputFormat } from './formats.ts'
import type { AvatarJobPayload } from './job.ts'
import { originalKey, variantFileName, variantKey, versionPrefix } from './keys.ts'
import { type AvatarOutcome, renderAvatarTask } from './render.ts'
import type { Avatar, AvatarsRepository } from './repository.ts'
import { VERSIONED_CACHE_CONTROL } from './serve.ts'

export interface AvatarHandlerOptions {
  pool: ImagePool
  avatars: AvatarsRepository
  paths: StoragePaths
  store: ObjectStore
  sizes: number[]
  formats: OutputFormat[]
  maxPixels: number
  timeoutMs: number
}

/**
 * Runs the avatar pipeline in the pool, then makes the result current unless a later upload already is. The
 * original is fetched into a scratch folder of this job's own and the variants are made there, then put into the
 * store: the pool works on local files whatever the store is. A store out of reach throws, and the job is tried
 * again like any other fault that is not the image's.
 */
export function avatarHandler(options: AvatarHandlerOptions): JobHandler<AvatarJobPayload> {
  const { pool, avatars, paths, store } = options
  return async (job, ctx) => {
    const { payload } = job
    await fs.mkdir(paths.scratch, { recursive: true })
    const scratch = await fs.mkdtemp(path.join(paths.scratch, `${job.id}-`))
    try {
      return await render(job.id, payload, ctx, scratch)
    } catch (err) {
      // Called off: no attempt will come, so its original goes (nothing of its version was put: see render).
      if (cancellationOf(ctx.signal)) await store.delete(originalKey(payload.original)).catch(() => undefined)
      throw err
    } finally {
      await removeFolder(scratch)
    }
  }

  async function render(
    jobId: string,
    payload: AvatarJobPayload,
    ctx: Parameters<JobHandler>[1],
    scratch: string,
  ): Promise<Record<string, unknown>> {
    // The original keeps its name (made by deckhand: upload id and sniffed type) in the scratch folder, and the
    // variants are made beside it: their names (size and format) cannot be the original's.
    const original = path.join(scratch, payload.original)
    const version = versionPrefix(payload.userId, jobId)

    // Run again after a crash that came between publishing and recording success: the original is gone by then,
    // and the version it made may be the one being served. Answer from what was published; never discard it.
    if (!(await store.getFile(originalKey(payload.original), original))) {
      const current = await avatars.current(payload.userId)
      if (current?.version === jobId) {
        const { placeholder, dominantColor, variants } = current
        return { current: true, version: jobId, placeholder, dominantColor, variants }
      }
      if (current && current.seq > payload.seq) return { current: false, version: jobId }
      throw new JobFailure(JobErrorCode.INTERNAL, 'the uploaded original is missing', false)
    }

    ctx.setStage('resizing')
    const timeout = AbortSignal.timeout(options.timeoutMs)
    let outcome: AvatarOutcome
    try {
      outcome = await pool.run(
        renderAvatarTask,
        {
          input: original,
          outDir: scratch,
          sizes: options.sizes,
          formats: options.formats,
          maxPixels: options.maxPixels,
          timeoutSeconds: Math.ceil(options.timeoutMs / 1000),
        },
        AbortSignal.any([ctx.signal, timeout]),
      )
    } catch (err) {
      // Shutdown: the dispatcher leaves the job queued. Otherwise the original stays for the next attempt, or for
      // an admin's retry once the attempts are spent: the fault was the worker's, not the image's.
      if (ctx.signal.aborted) throw err
      if (timeout.aborted) throw new JobFailure(JobErrorCode.TIMEOUT, `no result within ${options.timeoutMs} ms`)
      // A worker that threw, crashed or hit its heap limit: Piscina replaces it and only this job fails.
      throw new JobFailure(JobErrorCode.WORKER_FAILED, workerFault(err), true, (err as Error).message)
    }
    // Called off while the pool finished it: nothing is published.
    if (cancellationOf(ctx.signal)) throw ctx.signal.reason
    if (!outcome.ok) {
      // The image's own fault: no attempt will do better, and no version objects were put yet. A store that fails
      // the deletion leaves the original to retention, which deletes it with its failed job.
      await store.delete(originalKey(payload.original)).catch(() => undefined)
      throw new JobFailure(outcome.code, outcome.message, false, outcome.detail)
    }

    ctx.setStage('publishing')
    // Every variant is stored before the database points at the version: a reader sent there finds them all. All at
    // once: one after another, a folder's twelve renames and fsyncs held the job's slot, its pool thread idle, for a
    // median 12 ms, 3 ms at once (src/bench/RESULTS.md, what was tried). All are settled before a failure is thrown,
    // so that nothing of this attempt still writes while the next one runs.
    const puts = await Promise.allSettled(
      outcome.variants.map((variant) =>
        store.putFile(
          variantKey(payload.userId, jobId, variant.size, variant.format),
          path.join(scratch, variantFileName(variant.size, variant.format)),
          // Its key names its version: the object never changes, as a versioned avatar URL's answer never does.
          { contentType: contentTypeOf(variant.format), cacheControl: VERSIONED_CACHE_CONTROL },
        ),
      ),
    )
    for (const put of puts) if (put.status === 'rejected') throw put.reason
    const avatar: Avatar = {
      userId: payload.userId,
      version: jobId,
      seq: payload.seq,
      placeholder: outcome.placeholder,
      dominantColor: outcome.dominantColor,
      variants: outcome.variants,
      updatedAt: Date.now(),
    }
    const { promoted, replaced } = await avatars.promote(avatar)
    // Objects go only after the database points elsewhere, so a reader never meets a missing one it was sent to.
    // The avatar is published by now: a store that fails these deletions leaves them to the orphan sweep rather
    // than failing the job (a rerun would find the version already current, and its replaced one forgotten).
    const bestEffort = (work: Promise<unknown>) => work.catch(() => undefined)
    if (replaced) await bestEffort(store.deletePrefix(versionPrefix(payload.userId, replaced)))
    if (!promoted) await bestEffort(store.deletePrefix(version))
    await bestEffort(store.delete(originalKey(payload.original)))
    return {
      current: promoted,
      version: jobId,
      source: outcome.source,
      placeholder: outcome.placeholder,
      dominantColor: outcome.dominantColor,
      variants: outcome.variants,
    }
  }
}

/** What the owner is told of a worker's fault: what kind of fault, not the thread's own text. */
function workerFault(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ERR_WORKER_OUT_OF_MEMORY') return 'the image worker ran out of memory'
  return 'the image worker failed'
}
