import fs from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { sharedMake, sharedSync } from '../shared-calls.ts'
import { moveDurably, removeFile, removeFolder, syncToDisk } from './files.ts'
import type { ObjectStore, StoredObject } from './object-store.ts'

/**
 * Objects as files under one folder (STORAGE_DIR): a key is a relative path. Shared by every node only through a
 * mount (NFS); a single node needs nothing else.
 */
export function createFolderStore(root: string): ObjectStore {
  const fileOf = (key: string) => path.join(root, ...key.split('/'))
  const missing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT'
  // Puts into one folder at once (an avatar's variants) make it once and share its fsyncs.
  const makeFolder = sharedMake((dir) => fs.mkdir(dir, { recursive: true }))
  const syncFolder = sharedSync(syncToDisk)

  return {
    async putFile(key, file) {
      const target = fileOf(key)
      await makeFolder(path.dirname(target))
      await moveDurably(file, target, syncFolder)
    },
    async getFile(key, file) {
      try {
        // A hard link costs no copy; the object is never written in place, so the link cannot change under us.
        await fs.link(fileOf(key), file).catch(async (err) => {
          if ((err as NodeJS.ErrnoException).code !== 'EXDEV' && (err as NodeJS.ErrnoException).code !== 'EPERM') {
            throw err
          }
          await fs.copyFile(fileOf(key), file)
        })
        return true
      } catch (err) {
        if (missing(err)) return false
        throw err
      }
    },
    async get(key) {
      let handle: fs.FileHandle
      try {
        handle = await fs.open(fileOf(key), 'r')
      } catch (err) {
        if (missing(err)) return undefined
        throw err
      }
      return handle.createReadStream() as Readable
    },
    async head(key) {
      const stat = await fs.stat(fileOf(key)).catch((err) => {
        if (missing(err)) return undefined
        throw err
      })
      return stat?.isFile() ? { key, bytes: stat.size, modifiedMs: stat.mtimeMs } : undefined
    },
    async delete(key) {
      await removeFile(fileOf(key))
    },
    async deletePrefix(prefix) {
      // A prefix ending in `/` is a folder: removed whole, subfolders with it.
      if (prefix.endsWith('/')) return removeFolder(fileOf(prefix))
      let count = 0
      for await (const object of this.list(prefix)) {
        await removeFile(fileOf(object.key))
        count++
      }
      return count
    },
    list(prefix) {
      return walk(prefix)
    },
    async signedUrl() {
      return undefined
    },
    async check() {
      await fs.access(root)
    },
    close() {},
  }

  /** The files under `prefix` in key order; a prefix that is not a folder boundary filters its folder's names. */
  async function* walk(prefix: string): AsyncGenerator<StoredObject> {
    const cut = prefix.lastIndexOf('/') + 1
    const dirKey = prefix.slice(0, cut)
    yield* walkDir(dirKey, prefix.slice(cut))
  }

  async function* walkDir(dirKey: string, namePrefix: string): AsyncGenerator<StoredObject> {
    let names: string[]
    try {
      names = (await fs.readdir(fileOf(dirKey || '.'))).filter((n) => n.startsWith(namePrefix)).sort()
    } catch (err) {
      if (missing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return
      throw err
    }
    for (const name of names) {
      // Hidden names are copies still being made (moveDurably's temporary files): not objects yet.
      if (name.startsWith('.')) continue
      const key = `${dirKey}${name}`
      const stat = await fs.lstat(fileOf(key)).catch(() => undefined)
      if (!stat) continue
      if (stat.isDirectory()) yield* walkDir(`${key}/`, '')
      else if (stat.isFile()) yield { key, bytes: stat.size, modifiedMs: stat.mtimeMs }
    }
  }
}
