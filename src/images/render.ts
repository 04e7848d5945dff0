import fs from 'node:fs/promises'
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp'
import { JobErrorCode } from '../errors.ts'
import { placeholderOf } from './placeholder.ts'

/** The formats this module encodes; which of them a feature makes its images in is the feature's to say. */
export type EncodableFormat = 'webp' | 'avif' | 'jpeg'

/** One file to make from the crop. */
export interface RenderOutput {
  /** Written aside first and renamed into place. */
  file: string
  width: number
  height: number
  format: EncodableFormat
}

export interface RenderRequest {
  /** The image to read. */
  input: string
  /** Refuse to decode more pixels than this (guards against decompression bombs). */
  maxPixels: number
  /** libvips stops a pipeline that runs longer than this. */
  timeoutSeconds: number
  /** The one crop every output is resized from: the largest output's size, cover-cropped about `position`. */
  crop: { width: number; height: number; position: 'centre' | 'attention' | 'entropy' }
  outputs: RenderOutput[]
  /** Also a ThumbHash placeholder and the dominant colour, of the crop. */
  placeholder: boolean
}

export type RenderOutcome =
  | {
      ok: true
      source: { width: number; height: number; format: string }
      /** The bytes of each of `outputs`, in their order. */
      bytes: number[]
      placeholder?: { placeholder: string; dominantColor: string }
    }
  | RenderFault

/**
 * The input itself is at fault; trying again cannot help. `message` is for the uploader; `detail` is libvips' own
 * text, which names the file's path on the server, for the log only.
 */
export interface RenderFault {
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
 * Decodes one image once and makes every output from it: orientation applied from EXIF, then every bit of metadata
 * (EXIF, GPS, XMP, ICC) dropped, cover-cropped once in sRGB 8-bit, each output resized from that crop. Plain
 * enough to call anywhere; a feature runs it in the image pool, off the event loop.
 */
export async function renderImage(request: RenderRequest): Promise<RenderOutcome> {
  let crop: { data: Buffer; info: OutputInfo }
  let meta: Metadata
  try {
    // pages: 1 takes the first frame of an animation; failOn 'warning' refuses truncated data instead of
    // padding it with grey.
    const source = sharp(request.input, { limitInputPixels: request.maxPixels, failOn: 'warning', pages: 1 }).timeout({
      seconds: request.timeoutSeconds,
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
    crop = await source
      .rotate()
      .resize(request.crop.width, request.crop.height, { fit: 'cover', position: request.crop.position })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true })
  } catch (err) {
    const detail = (err as Error).message
    if (/pixel limit/i.test(detail)) {
      return {
        ok: false,
        code: JobErrorCode.IMAGE_TOO_LARGE,
        message: `Expected at most ${request.maxPixels} pixels`,
        detail,
      }
    }
    return { ok: false, code: JobErrorCode.IMAGE_UNDECODABLE, message: 'The image is truncated or corrupt', detail }
  }

  const raw = { raw: { width: crop.info.width, height: crop.info.height, channels: crop.info.channels } }
  const written = request.outputs.map(async ({ file, width, height, format }) => {
    const info = await encoders[format](sharp(crop.data, raw).resize(width, height)).toFile(`${file}.tmp`)
    // Renamed into place: a rerun after a crash may rewrite a file that is already being served.
    await fs.rename(`${file}.tmp`, file)
    return info.size
  })
  const [bytes, placeholder] = await Promise.all([
    Promise.all(written),
    request.placeholder ? placeholderOf(crop.data, raw.raw) : undefined,
  ])
  return {
    ok: true,
    source: { width: meta.width ?? 0, height: meta.height ?? 0, format: meta.format ?? 'unknown' },
    bytes,
    ...(placeholder && { placeholder }),
  }
}
