import fs from 'node:fs'
import path from 'node:path'

/** Files a probe creates: enough to time past the noise of one call (20 ms quiet, 300 ms when not), few enough. */
export const PROBE_FILES = 500

/**
 * Creates `files` files in a new folder under `root`, as the mail folder's writer does in a service's new DATA_DIR
 * (each written under a temporary name, then renamed into place), and answers the microseconds a file. The files
 * stay: deleting them would make the next probe slower (below), so `root` goes when the run ends, with the
 * services' data directories.
 */
export function fileCreateMicros(root: string, files = PROBE_FILES): number {
  // A new folder each time: ext4 places a new folder's files near it, so a service's DATA_DIR and the probe's folder
  // meet the same freed inodes only if both are new.
  const dir = fs.mkdtempSync(path.join(root, 'probe-'))
  const body = 'x'.repeat(1000)
  const started = performance.now()
  for (let i = 0; i < files; i++) {
    const file = path.join(dir, `${i}.eml`)
    const tmp = path.join(dir, `.${i}.eml.tmp`)
    fs.writeFileSync(tmp, body)
    fs.renameSync(tmp, file)
  }
  return ((performance.now() - started) * 1000) / files
}

/** Between two probes while the file system settles: it took 3–4 minutes here after a run's cleanup. */
export const SETTLE_INTERVAL_MS = 15_000

/** Waited before the first probe (see settleFileSystem). */
export const FIRST_PROBE_AFTER_MS = 2_000

export interface SettleOptions {
  /** A file's creation, in µs, at or under which the file system counts as settled. */
  thresholdMicros: number
  /** How long to wait at most; 0 measures once and does not wait. */
  maxWaitMs: number
  /** Between two probes. */
  intervalMs: number
  measure: () => number
  sleep: (ms: number) => Promise<void>
  now: () => number
  /** Told each probe that did not settle, and how long the wait has lasted. */
  waiting?: (micros: number, waitedMs: number) => void
}

export interface Settled {
  /** The last probe's µs a file. */
  fileCreateMicros: number
  /** From the first probe's start to the last one's. */
  waitedMs: number
  settled: boolean
}

/**
 * Waits until creating a file is as cheap as it is on a quiet file system. On ext4 without a journal (this
 * machine's), a new inode is not given a number freed in the last 60 s, or in the last 360 s while the block of the
 * inode table that holds it is dirty (Linux's fs/ext4/ialloc.c, recently_deleted): each allocation steps over every
 * such number in its group, one lookup each. For minutes after a run removed its services' files, creating one cost
 * 110–600 µs against 35–50, and the mail folder's writer took half a core from the event loop (src/bench/RESULTS.md,
 * "Files deleted before a run").
 */
export async function settleFileSystem(options: SettleOptions): Promise<Settled> {
  // ext4 counts an inode as recently freed only from the second after its deletion: a probe in the same second as
  // the previous run's cleanup read 49–61 µs, and the file system was slow a minute later.
  await options.sleep(FIRST_PROBE_AFTER_MS)
  const started = options.now()
  for (let probe = 0; ; probe++) {
    // The wait is the time before this probe: none at all when the first one settles.
    const waitedMs = probe === 0 ? 0 : options.now() - started
    const micros = options.measure()
    if (micros <= options.thresholdMicros) return { fileCreateMicros: micros, waitedMs, settled: true }
    if (waitedMs + options.intervalMs > options.maxWaitMs) return { fileCreateMicros: micros, waitedMs, settled: false }
    options.waiting?.(micros, waitedMs)
    await options.sleep(options.intervalMs)
  }
}
