import { FALLBACK_FORMAT, type OutputFormat } from './formats.ts'
import type { Avatar } from './repository.ts'

/** Versioned URL of one variant: it never changes content, so it may be cached for a year. */
export function variantUrl(userId: string, version: string, size: number, format: OutputFormat): string {
  return `/users/${userId}/avatar?size=${size}&format=${format}&v=${version}`
}

/** The `avatar` field of a public profile. */
export function avatarView(userId: string, avatar: Avatar | undefined, pending: boolean) {
  if (!avatar)
    return pending ? { status: 'processing' as const, placeholder: null, dominantColor: null, variants: [] } : null
  return {
    // "processing" while a newer upload is on its way; the current variants are served meanwhile.
    status: pending ? ('processing' as const) : ('ready' as const),
    placeholder: avatar.placeholder,
    dominantColor: avatar.dominantColor,
    variants: avatar.variants.map((v) => ({ ...v, url: variantUrl(userId, avatar.version, v.size, v.format) })),
  }
}

/**
 * The format to serve: an explicit `format` wins; otherwise the best the client's Accept header allows,
 * AVIF over WebP, with JPEG for everybody else.
 */
export function negotiateFormat(
  accept: string | undefined,
  available: readonly OutputFormat[],
  explicit?: OutputFormat,
): OutputFormat {
  if (explicit) return explicit
  const accepted = (type: string) =>
    (accept ?? '').split(',').some((part) => {
      const [mime, ...params] = part.trim().split(';')
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='))
      return mime?.trim() === type && (q === undefined || Number(q.slice(2)) > 0)
    })
  if (available.includes('avif') && accepted('image/avif')) return 'avif'
  if (available.includes('webp') && accepted('image/webp')) return 'webp'
  return FALLBACK_FORMAT
}
