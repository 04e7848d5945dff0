import fs from 'node:fs/promises'
import path from 'node:path'

/*
 * Removing what a folder of the node's own holds past a given age: the sweeps of files nothing points to any more
 * (incoming uploads, scratch folders, old mail), each keeping away from what may still be being written by its
 * age alone. Objects of the store are swept through the store (avatars/orphans.ts).
 */

/** What a pass over a folder did: the entries it removed, and the oldest last change among those it kept. */
export interface Swept {
  removed: number
  /** Infinity when it kept nothing. */
  oldestKeptMs: number
}

/** Removes the entries of `dir` (files, or folders whole) last written before `cutoff`; returns how many. */
export async function removeOldFiles(dir: string, cutoff: number): Promise<number> {
  return (await sweepOldFiles(dir, cutoff)).removed
}

/** As removeOldFiles, and tells the oldest entry it kept: until `cutoff` passes that, no pass can remove anything. */
export async function sweepOldFiles(dir: string, cutoff: number): Promise<Swept> {
  const { old, oldestKeptMs } = await oldEntries(dir, cutoff)
  for (const name of old) await fs.rm(path.join(dir, name), { recursive: true, force: true })
  return { removed: old.length, oldestKeptMs }
}

/** Names in `dir` whose last change is before `cutoff`, and the oldest of the others; none when `dir` is missing. */
async function oldEntries(dir: string, cutoff: number): Promise<{ old: string[]; oldestKeptMs: number }> {
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { old: [], oldestKeptMs: Number.POSITIVE_INFINITY }
    throw err
  }
  const old: string[] = []
  let oldestKeptMs = Number.POSITIVE_INFINITY
  for (const name of names) {
    const stat = await fs.lstat(path.join(dir, name)).catch(() => undefined)
    if (!stat) continue
    if (stat.mtimeMs < cutoff) old.push(name)
    else oldestKeptMs = Math.min(oldestKeptMs, stat.mtimeMs)
  }
  return { old, oldestKeptMs }
}
