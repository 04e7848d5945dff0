import sharp from 'sharp'
import { rgbaToThumbHash } from 'thumbhash'

/** ThumbHash works on at most 100×100 pixels. */
const HASH_SIDE = 100

export interface RawInfo {
  width: number
  height: number
  channels: 1 | 2 | 3 | 4
}

/**
 * A ThumbHash placeholder (base64) and the dominant colour (#rrggbb) of an image. Both are pure-JS loops over
 * the pixels: CPU work that would stall an event loop, which is why image work runs in worker threads.
 */
export async function placeholderOf(
  pixels: Buffer,
  info: RawInfo,
): Promise<{ placeholder: string; dominantColor: string }> {
  const small = await sharp(pixels, { raw: info })
    .resize(HASH_SIDE, HASH_SIDE, { fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({
      resolveWithObject: true,
    })
  const hash = rgbaToThumbHash(small.info.width, small.info.height, small.data)
  return { placeholder: Buffer.from(hash).toString('base64'), dominantColor: dominantColor(small.data) }
}

/**
 * The most common colour, found by counting pixels in a 4-bit-per-channel histogram and averaging the
 * winning bucket. Mostly transparent pixels do not vote.
 */
export function dominantColor(rgba: Uint8Array): string {
  const counts = new Uint32Array(4096)
  const sums = new Float64Array(4096 * 3)
  for (let i = 0; i < rgba.length; i += 4) {
    if ((rgba[i + 3] as number) < 128) continue
    const r = rgba[i] as number
    const g = rgba[i + 1] as number
    const b = rgba[i + 2] as number
    const bucket = ((r >> 4) << 8) | ((g >> 4) << 4) | (b >> 4)
    counts[bucket] = (counts[bucket] as number) + 1
    sums[bucket * 3] = (sums[bucket * 3] as number) + r
    sums[bucket * 3 + 1] = (sums[bucket * 3 + 1] as number) + g
    sums[bucket * 3 + 2] = (sums[bucket * 3 + 2] as number) + b
  }
  let best = -1
  for (let i = 0; i < counts.length; i++) if (best < 0 || (counts[i] as number) > (counts[best] as number)) best = i
  const n = counts[best] as number
  if (n === 0) return '#000000'
  const hex = (v: number) =>
    Math.round(v / n)
      .toString(16)
      .padStart(2, '0')
  return `#${hex(sums[best * 3] as number)}${hex(sums[best * 3 + 1] as number)}${hex(sums[best * 3 + 2] as number)}`
}
