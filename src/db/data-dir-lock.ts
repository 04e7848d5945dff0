import fs from 'node:fs'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import { StartupError } from '../startup-error.ts'
import { holdStatements } from './sqlite-handles.ts'

/** Held while this process has the data directory's SQLite journal open; released by release() or by its death. */
export interface DataDirLock {
  release(): void
}

/**
 * Claims the data directory for this process, as PostgreSQL does with its postmaster.pid: two processes on one
 * SQLite journal would each requeue the jobs the other is running (start-up recovery) and run them twice.
 *
 * The claim is an exclusive SQLite lock on a small file of its own, held by a transaction left open: an fcntl
 * lock, which the kernel drops when the process ends however it ends (kill -9 included), so a stale claim cannot
 * block a restart and a recycled pid means nothing. SQLite also keeps two connections of one process apart, so a
 * second app built in the same process is refused too. The pid beside it only names the holder in the message.
 */
export function lockDataDir(dir: string): DataDirLock {
  fs.mkdirSync(dir, { recursive: true })
  const pidFile = path.join(dir, 'deckhand.pid')
  const lock = new Sqlite(path.join(dir, 'deckhand.lock'), { timeout: 0 })
  // Held, as every better-sqlite3 object is (sqlite-handles.ts): one collected on Node 24 aborts the process.
  const statements = holdStatements(lock)
  try {
    statements.pragma('locking_mode = EXCLUSIVE')
    lock.exec('BEGIN EXCLUSIVE')
  } catch (err) {
    lock.close()
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err
    throw new StartupError(
      `DATA_DIR ${dir} is in use by ${holder(pidFile)}: one SQLite journal takes one process; stop it or give this one another DATA_DIR`,
    )
  }
  try {
    fs.writeFileSync(pidFile, `${process.pid}\n`)
  } catch {
    // Only the message of a refused second process needs it: a full disk must not stop this one.
  }
  return {
    release() {
      if (!lock.open) return
      // The pid first: once the lock is gone the next holder writes its own, which must not be removed here.
      fs.rmSync(pidFile, { force: true })
      lock.close()
    },
  }
}

function holder(pidFile: string): string {
  try {
    const pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8'), 10)
    if (pid > 0) return `another deckhand process, pid ${pid}`
  } catch {}
  // Between the holder's lock and its writing the pid, or a disk too full to write it.
  return 'another deckhand process'
}
