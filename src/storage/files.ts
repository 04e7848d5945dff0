import { createWriteStream } from 'node:fs'
import fs from 'node:fs/promises'
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
