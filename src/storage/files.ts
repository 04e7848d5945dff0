import { createWriteStream, type Dirent } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { finished, type Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'

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
  let bytes = 0
  // The socket's reads (64 KiB) are gathered into writes of WRITE_BYTES: written one by one, each was a round trip
  // through libuv's thread pool, 29 for a 1.9 MB photo (src/bench/RESULTS.md, "An upload's file system calls").
  let held: Buffer[] = []
  let heldBytes = 0
  const release = () => {
    const data = Buffer.concat(held, heldBytes)
    held = []
    heldBytes = 0
    return data
  }
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length
      if (bytes > limit) return callback(new TooManyBytes(`more than ${limit} bytes`))
      observe?.(chunk)
      held.push(chunk)
      heldBytes += chunk.length
      callback(null, heldBytes >= WRITE_BYTES ? release() : undefined)
    },
    flush(callback) {
      callback(null, heldBytes > 0 ? release() : undefined)
    },
  })
  // finished() also reports a source that was destroyed before we got here (a client that went away while the
  // request was being authenticated, a multipart part busboy already failed); a 'close' listener would wait for
  // an event that has already happened, and the file and its descriptor would stay open for ever.
  const stopWatching = finished(source, { writable: false }, (err) => {
    if (err) counter.destroy(new SourceFailed(err.message, { cause: err }))
  })
  source.pipe(counter)
  // flush: the data is fsynced before the stream reports done, so "received" means "on disk".
  const sink = createWriteStream(file, { flags: 'wx', flush: true })
  try {
    await pipeline(counter, sink)
  } catch (err) {
    source.unpipe(counter)
    // pipeline() settles before the sink it destroyed has closed, and the sink may still be opening its file:
    // removed now, the file would be created afterwards and stay for ever. So first the sink's close.
    if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()))
    await removeFile(file)
    throw err
  } finally {
    stopWatching()
  }
  return bytes
}

/**
 * Flushes a file's data, or a folder's entries, to disk (fsync): a folder's, to make a rename or a new file in it
 * durable.
 */
export async function syncToDisk(fileOrFolder: string): Promise<void> {
  const handle = await fs.open(fileOrFolder, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Moves a file into `to`'s folder durably: when this resolves, its data and its name are on disk. A rename when both
 * are on one file system; across file systems (DATA_DIR local, STORAGE_DIR a shared mount) a copy to a hidden name,
 * fsynced, then renamed, so readers on other nodes never see half a file. `syncFolder` flushes the folder's entry
 * (shared among moves: src/shared-calls.ts).
 */
export async function moveDurably(
  from: string,
  to: string,
  syncFolder = syncToDisk,
  syncFile = syncToDisk,
): Promise<void> {
  try {
    await fs.rename(from, to)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err
    const tmp = path.join(path.dirname(to), `.${path.basename(to)}.tmp`)
    try {
      await fs.copyFile(from, tmp)
      await syncFile(tmp)
      await fs.rename(tmp, to)
    } catch (copyErr) {
      await removeFile(tmp)
      throw copyErr
    }
    await removeFile(from)
    await syncFolder(path.dirname(to))
    return
  }
  // The data as well as the name: a renamed file that nobody fsynced (sharp writes the variants with a plain write)
  // may reach the disk up to half a minute after its name does (ext4's delayed allocation), and a power cut meanwhile
  // left the object in place but empty, with the journal already pointing at it. Nothing points at it before this
  // resolves, so the two may go in either order; together, they cost one wait.
  await Promise.all([syncFile(to), syncFolder(path.dirname(to))])
}

/** For a removal's catch: what is not there is already removed. */
function unlessMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
}

/** Removes a file; one that is not there is no error. */
export async function removeFile(file: string): Promise<void> {
  await fs.unlink(file).catch(unlessMissing)
}

/**
 * Removes a folder and all it holds, and tells how many files it held whose names are not hidden (a store's objects:
 * its temporary copies are hidden). One pass by the types `readdir` gives: `fs.rm` asks each entry's type again
 * (lstat), and counting first took another walk, about forty calls through libuv's thread pool for an avatar's
 * version of twelve files instead of fourteen. A folder that is not there holds nothing.
 */
export async function removeFolder(folder: string): Promise<number> {
  let entries: Dirent[]
  try {
    entries = await fs.readdir(folder, { withFileTypes: true })
  } catch (err) {
    const { code } = err as NodeJS.ErrnoException
    if (code === 'ENOENT' || code === 'ENOTDIR') return 0
    throw err
  }
  const counts = await Promise.all(
    entries.map(async (entry) => {
      const entryPath = path.join(folder, entry.name)
      if (entry.isDirectory()) return removeFolder(entryPath)
      await removeFile(entryPath)
      return entry.isFile() && !entry.name.startsWith('.') ? 1 : 0
    }),
  )
  await fs.rmdir(folder).catch(unlessMissing)
  return counts.reduce((sum, n) => sum + n, 0)
}
