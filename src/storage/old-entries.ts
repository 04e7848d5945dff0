import fs from 'node:fs/promises'
import path from 'node:path'

/*
 * Removing what a folder of the node's own holds past a given age: the sweeps of files nothing points to any more
 * (incoming uploads, scratch folders, old mail), each keeping away from what may still be being written by its
 * age alone. Objects of the store are swept through the store (avatars/orphans.ts).
 */

/** Removes the entries of `dir` (files, or folders whole) last written before `cutoff`; returns how many. */
export async function removeOldFiles(dir: string, cutoff: number): Promise<number> {
  const old = await oldEntries(dir, cutoff)
  for (const name of old) await fs.rm(path.join(dir, name), { recursive: true, force: true })
  return old.length
}

/** Names in `dir` whose last change is before `cutoff`; none when `dir` does not exist. */
async function oldEntries(dir: string, cutoff: number): Promise<string[]> {
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const old: string[] = []
  for (const name of names) {
    const stat = await fs.lstat(path.join(dir, name)).catch(() => undefined)
    if (stat && stat.mtimeMs < cutoff) old.push(name)
  }
  return old
}
