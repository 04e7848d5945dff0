/*
 * The formats avatars are made in, declared once: JPEG always, as every client reads it; WebP and AVIF as
 * AVATAR_FORMATS says. The config, the API schemas, format negotiation and the render pipeline all read them here.
 */
export const OPTIONAL_FORMATS = ['webp', 'avif'] as const
export const FALLBACK_FORMAT = 'jpeg'
export const OUTPUT_FORMATS = [...OPTIONAL_FORMATS, FALLBACK_FORMAT] as const

export type OptionalFormat = (typeof OPTIONAL_FORMATS)[number]
export type OutputFormat = (typeof OUTPUT_FORMATS)[number]
