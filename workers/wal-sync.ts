// The WAL's fsync thread: an fsync for each round src/db/wal-sync.ts asks; never SQLite, HTTP or the journal.
import fs from 'node:fs'
import path from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import type { WalSyncAnswer, WalSyncData } from '../src/db/wal-sync.ts'

const { file, asked } = workerData as WalSyncData
let fd: number | undefined

/** Opens the WAL file once, and syncs its directory once, so that the file itself survives a power cut. */
function openWal(): number | undefined {
  try {
    fd = fs.openSync(file, 'r')
  } catch (err) {
    // No WAL file: SQLite has checkpointed everything into the database file and synced it.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    return undefined
  }
  const dir = fs.openSync(path.dirname(file), 'r')
  try {
    fs.fsyncSync(dir)
  } finally {
    fs.closeSync(dir)
  }
  return fd
}

const port = parentPort
if (!port) throw new Error('workers/wal-sync.ts runs as a worker thread')
// The thread does nothing else: it waits on the shared round (worker.terminate() ends the wait), reads the last round
// asked, which every commit of it precedes, fsyncs, and answers for it.
let answered = 0
for (;;) {
  Atomics.wait(asked, 0, answered)
  const round = Atomics.load(asked, 0)
  try {
    const wal = fd ?? openWal()
    if (wal !== undefined) fs.fsyncSync(wal)
    port.postMessage({ round } satisfies WalSyncAnswer)
  } catch (err) {
    const { message, code } = err as NodeJS.ErrnoException
    port.postMessage({ round, error: code === undefined ? { message } : { message, code } } satisfies WalSyncAnswer)
  }
  answered = round
}
