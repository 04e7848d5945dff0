import { OPTIONAL_AVATAR_FORMATS } from '../config.ts'
import type { EncodableFormat } from '../images/render.ts'

/*
 * The formats avatars are made in, declared once: JPEG always, as every client reads it; WebP and AVIF as
 * AVATAR_FORMATS says (the optional ones are listed with that setting, in config.ts). The API schemas and format
 * negotiation read them here; the render pipeline is given them with each task, and `satisfies` keeps them within
 * what it can encode.
 */

export const OPTIONAL_FORMATS = OPTIONAL_AVATAR_FORMATS satisfies readonly EncodableFormat[]
export const FALLBACK_FORMAT = 'jpeg' as const satisfies EncodableFormat
export const OUTPUT_FORMATS = [...OPTIONAL_FORMATS, FALLBACK_FORMAT] as const

/** The media type of a variant in `format`: what deckhand and the bucket answer with. */
export function contentTypeOf(format: OutputFormat): string {
  return `image/${format}`
}

export type OptionalFormat = (typeof OPTIONAL_FORMATS)[number]
export type OutputFormat = (typeof OUTPUT_FORMATS)[number]
