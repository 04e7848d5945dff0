import path from 'node:path'
import { type EncodableFormat, type RenderFault, renderImage } from '../images/render.ts'
import { imageTask } from '../images/task.ts'
import { variantFileName } from './keys.ts'

/*
 * What an avatar is made of: one upload, cover-cropped about its centre to a square of the largest size, made in
 * every size × format, with a ThumbHash placeholder and its dominant colour. Runs in the image pool
 * (workers/avatar.ts).
 */

export interface AvatarTask {
  /** The stored original. */
  input: string
  /** Where the variants are written, one file per size and format (`variantFileName`). */
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
  /** The upload itself is at fault. */
  | RenderFault

/** Turns one uploaded image into square avatars, every size in every format. */
export async function renderAvatar(task: AvatarTask): Promise<AvatarOutcome> {
  const largest = Math.max(...task.sizes)
  const variants = task.sizes.flatMap((size) => task.formats.map((format) => ({ size, format })))
  const outcome = await renderImage({
    input: task.input,
    maxPixels: task.maxPixels,
    timeoutSeconds: task.timeoutSeconds,
    crop: { width: largest, height: largest, position: 'centre' },
    outputs: variants.map(({ size, format }) => ({
      file: path.join(task.outDir, variantFileName(size, format)),
      width: size,
      height: size,
      format,
    })),
    placeholder: true,
  })
  if (!outcome.ok) return outcome
  const { placeholder, dominantColor } = outcome.placeholder as NonNullable<typeof outcome.placeholder>
  return {
    ok: true,
    source: outcome.source,
    variants: variants.map((v, i) => ({ ...v, bytes: outcome.bytes[i] as number })),
    placeholder,
    dominantColor,
  }
}

/** The pool's handle on `renderAvatar`: workers/avatar.ts exports it under this name. */
export const renderAvatarTask = imageTask<AvatarTask, AvatarOutcome>(
  new URL('../../workers/avatar.ts', import.meta.url),
  'renderAvatar',
)
