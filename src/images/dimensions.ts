import sharp from 'sharp'
import { ImageTooLargeError, ImageUndecodableError } from '../errors.ts'

/**
 * Checks the width and height an image declares in its header, nothing decoded: a decompression bomb is refused
 * before any pixel exists.
 */
export async function checkDimensions(file: string, maxPixels: number): Promise<void> {
  let width: number | undefined
  let height: number | undefined
  try {
    ;({ width, height } = await sharp(file, { limitInputPixels: false }).metadata())
  } catch (err) {
    // libvips' text names the file's path on the server: it goes to the log (as the cause), not to the client.
    throw new ImageUndecodableError('its header is corrupt or cut off', { cause: err as Error })
  }
  if (!width || !height) throw new ImageUndecodableError('the header declares no dimensions')
  if (width * height > maxPixels) throw new ImageTooLargeError(maxPixels, width, height)
}
