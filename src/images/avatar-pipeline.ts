import fs from 'node:fs/promises'
import path from 'node:path'
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp'
import { JobErrorCode } from '../errors.ts'
import { variantFileName } from '../storage/paths.ts'
import { placeholderOf } from './placeholder.ts'

/** The formats this pipeline encodes; which of them avatars are made in is the avatars feature's to say. */
export type EncodableFormat = 'webp' | 'avif' | 'jpeg'

export interface AvatarTask {
  /** The stored original. */
  input: string
  /** Where the variants are written, one file per size and format: `<size>.<format>`. */
  outDir: string
  sizes: number[]
  formats: EncodableFormat[]
  /** Refuse to decode more pixels than this (guards against decompression bombs). */
  maxPixels: number
  /** libvips stops a pipeline that runs longer than this. */
  timeoutSeconds: number
}

export interface AvatarVariant {
  size: number
  format: EncodableFormat
  bytes: number
}

export type AvatarOutcome =
  | {
      ok: true
      source: { width: number; height: number; format: string }
      variants: AvatarVariant[]
      placeholder: string
      dominantColor: string
    }
  /**
   * The input itself is at fault; trying again cannot help. `message` is for the uploader; `detail` is
   * libvips' own text, which names the file's path on the server, for the log only.
   */
  | {
      ok: false
      code: typeof JobErrorCode.IMAGE_UNDECODABLE | typeof JobErrorCode.IMAGE_TOO_LARGE
      message: string
      detail?: string
    }

const decodable = new Set(['jpeg', 'png', 'webp', 'heif', 'gif', 'tiff'])

const encoders: Record<EncodableFormat, (s: Sharp) => Sharp> = {
  webp: (s) => s.webp({ quality: 80, effort: 4 }),
  avif: (s) => s.avif({ quality: 50, effort: 2 }),
  // JPEG has no alpha: transparent areas become white rather than black.
  jpeg: (s) => s.flatten({ background: '#ffffff' }).jpeg({ quality: 82, mozjpeg: true }),
}

/**
 * Turns one uploaded image into square avatars: orientation applied from EXIF, then every bit of metadata
 * (EXIF, GPS, XMP, ICC) dropped, cover-cropped to each size in each format, plus a ThumbHash placeholder and
 * the dominant colour. Runs in a worker thread in production; plain enough to call anywhere.
 */
export async function renderAvatar(task: AvatarTask): Promise<AvatarOutcome> {
  const largest = Math.max(...task.sizes)
  let square: { data: Buffer; info: OutputInfo }
  let meta: Metadata
  try {
    // pages: 1 takes the first frame of an animation; failOn 'warning' refuses truncated data instead of
    // padding it with grey.
    const source = sharp(task.input, { limitInputPixels: task.maxPixels, failOn: 'warning', pages: 1 }).timeout({
      seconds: task.timeoutSeconds,
    })
    meta = await source.metadata()
    // Uploads are sniffed before they get here; this is the second lock on the door (SVG, PDF, HEIC, …).
    if (!decodable.has(meta.format as string)) {
      return {
        ok: false,
        code: JobErrorCode.IMAGE_UNDECODABLE,
        message: `Expected an image format deckhand reads but received ${meta.format}`,
      }
    }
    // Decode once, orient, crop to the largest square in sRGB 8-bit; every size is made from that buffer.
    square = await source
      .rotate()
      .resize(largest, largest, { fit: 'cover', position: 'centre' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true })
  } catch (err) {
    const detail = (err as Error).message
    if (/pixel limit/i.test(detail)) {
      return {
        ok: false,
        code: JobErrorCode.IMAGE_TOO_LARGE,
        message: `Expected at most ${task.maxPixels} pixels`,
        detail,
      }
    }
    return { ok: false, code: JobErrorCode.IMAGE_UNDECODABLE, message: 'The image is truncated or corrupt', detail }
  }

  const raw = { raw: { width: square.info.width, height: square.info.height, channels: square.info.channels } }
  const jobs: Promise<AvatarVariant>[] = []
  for (const size of task.sizes) {
    for (const format of task.formats) {
      const file = path.join(task.outDir, variantFileName(size, format))
      const pipeline = encoders[format](sharp(square.data, raw).resize(size, size))
      // Written aside and renamed: a rerun after a crash may rewrite a version that is already being served.
      const written = pipeline.toFile(`${file}.tmp`).then(async (info) => {
        await fs.rename(`${file}.tmp`, file)
        return { size, format, bytes: info.size }
      })
      jobs.push(written)
    }
  }
  const [variants, placeholder] = await Promise.all([Promise.all(jobs), placeholderOf(square.data, raw.raw)])
  return {
    ok: true,
    source: { width: meta.width ?? 0, height: meta.height ?? 0, format: meta.format ?? 'unknown' },
    variants,
    ...placeholder,
  }
}
