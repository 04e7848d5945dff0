import type { Dirent } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'

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
