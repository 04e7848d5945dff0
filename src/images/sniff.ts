/** The upload types deckhand accepts, recognised by their first bytes. */
export type ImageType = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif' | 'tiff'

/** How many leading bytes `sniffImageType` needs. */
export const SNIFF_BYTES = 64

const ascii = (b: Uint8Array, start: number, end: number) => String.fromCharCode(...b.subarray(start, end))

/**
 * The image type from its magic numbers, never from a header or a file name; undefined for anything else,
 * SVG included (it is a script and XXE vector, not a picture).
 */
export function sniffImageType(head: Uint8Array): ImageType | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg'
  if (head.length >= 8 && ascii(head, 0, 8) === '\x89PNG\r\n\x1a\n') return 'png'
  if (head.length >= 6 && /^GIF8[79]a$/.test(ascii(head, 0, 6))) return 'gif'
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'webp'
  if (head.length >= 4 && (ascii(head, 0, 4) === 'II*\0' || ascii(head, 0, 4) === 'MM\0*')) return 'tiff'
  if (head.length >= 12 && ascii(head, 4, 8) === 'ftyp') {
    // ISO-BMFF: AVIF says so in its major brand or among the compatible brands of the ftyp box.
    const boxEnd = Math.min(
      head.length,
      (head[0] as number) * 2 ** 24 + ((head[1] as number) << 16) + ((head[2] as number) << 8) + (head[3] as number),
    )
    for (let at = 8; at + 4 <= boxEnd; at += 4) {
      if (at === 12) continue // minor version, not a brand
      const brand = ascii(head, at, at + 4)
      if (brand === 'avif' || brand === 'avis') return 'avif'
    }
  }
  return undefined
}
