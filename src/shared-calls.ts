/**
 * Calls on one path (a folder, a file) shared among the callers that overlap. The twelve variants of an avatar are
 * put at once into one version's folder, and each made the folder and fsynced it on its own: a mkdir (and its stat),
 * a rename, an open, an fsync and a close, six calls a variant on libuv's threads, which phase 2 shares with sharp.
 * Shared, a job makes its folder once and fsyncs it two or three times (src/bench/RESULTS.md, phase 2's CPU). The
 * SQLite journal's commits share the WAL's fsyncs in rounds of their own (db/wal-sync.ts).
 */

/** `make(dir)` once for the callers that overlap: a folder made for one caller is there for the others. */
export function sharedMake(make: (dir: string) => Promise<unknown>): (dir: string) => Promise<void> {
  const running = new Map<string, Promise<void>>()
  return (dir) => {
    let made = running.get(dir)
    if (!made) {
      made = make(dir)
        .then(() => undefined)
        .finally(() => running.delete(dir))
      running.set(dir, made)
    }
    return made
  }
}

/**
 * `sync(dir)` shared as a group commit is: a caller waits for a sync that began after it asked (the one under way
 * may have begun before its rename), and the callers that ask while one runs share the next.
 */
export function sharedSync(sync: (dir: string) => Promise<void>): (dir: string) => Promise<void> {
  const running = new Map<string, Promise<void>>()
  const next = new Map<string, Promise<void>>()
  const start = (dir: string): Promise<void> => {
    const synced: Promise<void> = sync(dir).finally(() => {
      if (running.get(dir) === synced) running.delete(dir)
    })
    running.set(dir, synced)
    return synced
  }
  return (dir) => {
    const underWay = running.get(dir)
    if (!underWay) return start(dir)
    let queued = next.get(dir)
    if (!queued) {
      queued = underWay
        .catch(() => undefined)
        .then(() => {
          next.delete(dir)
          return start(dir)
        })
      next.set(dir, queued)
    }
    return queued
  }
}
