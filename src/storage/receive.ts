import type { FileHandle } from 'node:fs/promises'
import fs from 'node:fs/promises'
import { finished, type Readable, Writable } from 'node:stream'
import { finished as streamFinished } from 'node:stream/promises'
import { removeFile } from './files.ts'

/** How much of an upload `receiveToFile` gathers in memory before writing it (plus one read of the socket). */
export const WRITE_BYTES = 256 * 1024

/** Thrown by `receiveToFile` when the stream exceeds its byte limit. */
export class TooManyBytes extends Error {
  override name = 'TooManyBytes'
}

/** Thrown by `receiveToFile` when the source itself failed: the client went away or sent a broken body. */
export class SourceFailed extends Error {
  override name = 'SourceFailed'
}

/**
 * A new file written from a stream, fsynced when the stream ends; closed when it is done or destroyed.
 *
 * The socket's reads (64 KiB) are held until WRITE_BYTES have come, then written together as they are, in one
 * writev: written one by one, each was a round trip through libuv's thread pool, 29 for a 1.9 MB photo; joined first
 * (Buffer.concat), every upload was copied once more into new memory off V8's heap, and that memory set off most of
 * the main thread's full collections in phase 2 (src/bench/RESULTS.md, "An upload's file system calls" and "An
 * upload's copy").
 */
class FileReceiver extends Writable {
  bytes = 0
  readonly #file: string
  readonly #limit: number
  readonly #observe: ((chunk: Buffer) => void) | undefined
  #handle: FileHandle | undefined
  #held: Buffer[] = []
  #heldBytes = 0

  constructor(file: string, limit: number, observe?: (chunk: Buffer) => void) {
    super()
    this.#file = file
    this.#limit = limit
    this.#observe = observe
  }

  override _construct(callback: (err?: Error | null) => void): void {
    fs.open(this.#file, 'wx').then((handle) => {
      this.#handle = handle
      callback()
    }, callback)
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.bytes += chunk.length
    if (this.bytes > this.#limit) {
      callback(new TooManyBytes(`more than ${this.#limit} bytes`))
      return
    }
    this.#observe?.(chunk)
    this.#held.push(chunk)
    this.#heldBytes += chunk.length
    if (this.#heldBytes < WRITE_BYTES) callback()
    else this.#writeHeld().then(() => callback(), callback)
  }

  override _final(callback: (err?: Error | null) => void): void {
    // The data on disk before the stream reports done, so "received" means "on disk".
    this.#writeHeld()
      .then(() => (this.#handle as FileHandle).sync())
      .then(() => callback(), callback)
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const handle = this.#handle
    this.#handle = undefined
    if (!handle) {
      callback(err)
      return
    }
    handle.close().then(
      () => callback(err),
      (closeErr) => callback(err ?? closeErr),
    )
  }

  async #writeHeld(): Promise<void> {
    let buffers = this.#held
    this.#held = []
    this.#heldBytes = 0
    const handle = this.#handle as FileHandle
    // A write may take fewer bytes than it was given; the rest goes again.
    while (buffers.length > 0) buffers = unwritten(buffers, (await handle.writev(buffers)).bytesWritten)
  }
}

/** What is left of `buffers` once their first `written` bytes are written. */
export function unwritten(buffers: Buffer[], written: number): Buffer[] {
  let skip = written
  let first = 0
  while (first < buffers.length && skip >= (buffers[first] as Buffer).length) {
    skip -= (buffers[first] as Buffer).length
    first++
  }
  const rest = buffers.slice(first)
  if (skip > 0 && rest.length > 0) rest[0] = (rest[0] as Buffer).subarray(skip)
  return rest
}

/**
 * Streams `source` into a new file, holding about WRITE_BYTES of it in memory at most, and fsyncs it: when this
 * resolves the bytes are on disk. Over `limit` bytes, or on any error, the partial file is removed and its
 * descriptor closed. The source is left undestroyed (only unpiped), so the caller can still answer on its connection.
 */
export async function receiveToFile(
  source: Readable,
  file: string,
  limit: number,
  /** Sees every chunk on its way (a digest of the bytes), without a second read of the file. */
  observe?: (chunk: Buffer) => void,
): Promise<number> {
  const receiver = new FileReceiver(file, limit, observe)
  // finished() also reports a source that was destroyed before we got here (a client that went away while the
  // request was being authenticated, a multipart part busboy already failed); a 'close' listener would wait for
  // an event that has already happened, and the file and its descriptor would stay open for ever.
  const stopWatching = finished(source, { writable: false }, (err) => {
    if (err) receiver.destroy(new SourceFailed(err.message, { cause: err }))
  })
  source.pipe(receiver)
  try {
    await streamFinished(receiver)
  } catch (err) {
    source.unpipe(receiver)
    // The receiver may still be opening its file when it fails: removed now, the file would be created afterwards
    // and stay for ever. So first its close.
    if (!receiver.closed) await new Promise<void>((resolve) => receiver.once('close', () => resolve()))
    await removeFile(file)
    throw err
  } finally {
    stopWatching()
  }
  return receiver.bytes
}
