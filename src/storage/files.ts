import { createWriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { type Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/** Thrown by `receiveToFile` when the stream exceeds its byte limit. */
export class TooManyBytes extends Error {
  override name = 'TooManyBytes'
}

/**
 * Streams `source` into a new file, never holding it whole in memory, and fsyncs it: when this resolves the
 * bytes are on disk. Over `limit` bytes, or on any error, the partial file is removed. The source is left
 * undestroyed (only unpiped), so the caller can still answer on its connection.
 */
export async function receiveToFile(source: Readable, file: string, limit: number): Promise<number> {
  let bytes = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length
      callback(bytes > limit ? new TooManyBytes(`more than ${limit} bytes`) : null, chunk)
    },
  })
  const onError = (err: Error) => counter.destroy(err)
  // A client that disconnects mid-body ends the stream without 'end'.
  const onClose = () => source.readableEnded || counter.destroy(new Error('the client went away mid-upload'))
  source.once('error', onError)
  source.once('close', onClose)
  source.pipe(counter)
  try {
    // flush: the data is fsynced before the stream reports done, so "received" means "on disk".
    await pipeline(counter, createWriteStream(file, { flags: 'wx', flush: true }))
  } catch (err) {
    source.unpipe(counter)
    await fs.rm(file, { force: true })
    throw err
  } finally {
    source.off('error', onError)
    source.off('close', onClose)
  }
  return bytes
}

/** Reads the first `n` bytes of a file (fewer if it is shorter). */
export async function readHead(file: string, n: number): Promise<Uint8Array> {
  const handle = await fs.open(file, 'r')
  try {
    const buffer = Buffer.alloc(n)
    const { bytesRead } = await handle.read(buffer, 0, n, 0)
    return buffer.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

/** Makes a rename or a new file in `dir` durable: the directory entry itself is flushed. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Moves a file into `to`'s folder durably. A rename when both are on one file system; across file systems
 * (DATA_DIR local, STORAGE_DIR a shared mount) a copy to a hidden name, fsynced, then renamed, so readers on
 * other nodes never see half a file.
 */
export async function moveDurably(from: string, to: string): Promise<void> {
  try {
    await fs.rename(from, to)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err
    const tmp = path.join(path.dirname(to), `.${path.basename(to)}.tmp`)
    try {
      await fs.copyFile(from, tmp)
      const handle = await fs.open(tmp, 'r+')
      await handle.sync().finally(() => handle.close())
      await fs.rename(tmp, to)
    } catch (copyErr) {
      await fs.rm(tmp, { force: true })
      throw copyErr
    }
    await fs.rm(from, { force: true })
  }
  await syncDir(path.dirname(to))
}
