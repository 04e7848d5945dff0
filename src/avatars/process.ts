import fs from 'node:fs/promises'
import { JobErrorCode, JobFailure } from '../errors.ts'
import type { ImagePool } from '../images/pool.ts'
import type { JobHandler } from '../jobs/types.ts'
import type { StoragePaths } from '../storage/paths.ts'
import type { OutputFormat } from './formats.ts'
import type { AvatarJobPayload } from './job.ts'
import type { Avatar, AvatarsRepository } from './repository.ts'

export interface AvatarHandlerOptions {
  pool: ImagePool
  avatars: AvatarsRepository
  paths: StoragePaths
  sizes: number[]
  formats: OutputFormat[]
  maxPixels: number
  timeoutMs: number
}

/** Runs the avatar pipeline in the pool, then makes the result current unless a later upload already is. */
export function avatarHandler(options: AvatarHandlerOptions): JobHandler {
  const { pool, avatars, paths } = options
  return async (job, ctx) => {
    const payload = job.payload as AvatarJobPayload
    const original = paths.original(payload.original)
    const outDir = paths.avatarVersion(payload.userId, job.id)
    const discard = async () => {
      await fs.rm(outDir, { recursive: true, force: true })
      await fs.rm(original, { force: true })
    }

    // Run again after a crash that came between publishing and recording success: the original is gone by then,
    // and the version it made may be the one being served. Answer from what was published; never discard it.
    const stillThere = await fs.access(original).then(
      () => true,
      () => false,
    )
    if (!stillThere) {
      const current = await avatars.current(payload.userId)
      if (current?.version === job.id) {
        const { placeholder, dominantColor, variants } = current
        return { current: true, version: job.id, placeholder, dominantColor, variants }
      }
      if (current && current.seq > payload.seq) return { current: false, version: job.id }
      throw new JobFailure(JobErrorCode.INTERNAL, 'the uploaded original is missing', false)
    }

    ctx.setStage('resizing')
    await fs.mkdir(outDir, { recursive: true })
    const timeout = AbortSignal.timeout(options.timeoutMs)
    let outcome: Awaited<ReturnType<ImagePool['run']>>
    try {
      outcome = await pool.run(
        {
          input: original,
          outDir,
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
    if (!outcome.ok) {
      await discard()
      throw new JobFailure(outcome.code, outcome.message, false, outcome.detail)
    }

    ctx.setStage('publishing')
    const avatar: Avatar = {
      userId: payload.userId,
      version: job.id,
      seq: payload.seq,
      placeholder: outcome.placeholder,
      dominantColor: outcome.dominantColor,
      variants: outcome.variants,
      updatedAt: Date.now(),
    }
    const { promoted, replaced } = await avatars.promote(avatar)
    // Files go only after the database points elsewhere, so a reader never meets a missing file it was sent to.
    if (replaced) await fs.rm(paths.avatarVersion(payload.userId, replaced), { recursive: true, force: true })
    if (!promoted) await fs.rm(outDir, { recursive: true, force: true })
    await fs.rm(original, { force: true })
    return {
      current: promoted,
      version: job.id,
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
