import type { Dirent } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'

/*
 * Finding and removing what a folder holds past a given age: the sweeps of files nothing points to any more
 * (avatar orphans, old mail), each keeping away from what may still be being written by its age alone.
 */

/** Removes the entries of `dir` last written before `cutoff`; returns how many. */
export async function removeOldFiles(dir: string, cutoff: number): Promise<number> {
  return removeAll((await oldEntries(dir, cutoff)).map((name) => path.join(dir, name)))
}

/** Names in `dir` whose last change is before `cutoff`; none when `dir` does not exist. */
export async function oldEntries(dir: string, cutoff: number): Promise<string[]> {
  const old: string[] = []
  for (const entry of await entries(dir)) {
    const stat = await fs.lstat(path.join(dir, entry.name)).catch(() => undefined)
    if (stat && stat.mtimeMs < cutoff) old.push(entry.name)
  }
  return old
}

export /** The folders in `dir`; none when `dir` does not exist. */
async function subfolders(dir: string): Promise<string[]> {
  return (await entries(dir)).filter((e) => e.isDirectory()).map((e) => e.name)
}

async function entries(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

export /** Removes files and folders; returns how many. */
async function removeAll(targets: string[]): Promise<number> {
  for (const target of targets) await fs.rm(target, { recursive: true, force: true })
  return targets.length
}
