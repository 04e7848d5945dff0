import fs from 'node:fs'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import { type HeldStatements, holdStatements } from '../db/sqlite-handles.ts'
import { storagePaths } from '../storage/paths.ts'
import type { LocalService } from './service.ts'
import { metricSum, metricValue } from './stats.ts'

/** What the soak reads of the service once a minute. */
export interface SoakSample {
  minute: number
  /** VmRSS from /proc, as the kernel counts it. */
  rssMiB: number
  /** process_resident_memory_bytes: the same figure as the service itself reports it. */
  rssMetricMiB: number
  /** Of the RSS, anonymous memory (smaps_rollup): what malloc and V8 hold; the rest is mapped files and code. */
  anonMiB: number
  heapUsedMiB: number
  /** Memory V8 tracks outside its heap: Buffers and ArrayBuffers (nodejs_external_memory_bytes). */
  externalMiB: number
  fds: number
  /** Every file under DATA_DIR, the mail folder included. */
  files: number
  /** Of those, the mails in the mail folder: the mail sink of this setup, not the service's state. */
  mailFiles: number
  /** deckhand.db with its -wal and -shm. */
  dbMiB: number
  /** Of those, the -wal file: a checkpoint held back lets it grow past its usual few MiB. */
  walMiB: number
  /** Pages of the users table and its indexes: rows kept for ever by design, so they grow with signups. */
  usersMiB: number
  /** Pages of the jobs table and its indexes: what retention has to keep bounded. */
  jobsTableMiB: number
  /** Pages free inside the file, not yet handed back by incremental vacuum. */
  freeMiB: number
  /** Since the previous sample: prom-client resets the histogram at every scrape. */
  eventLoopP99Ms: number
  queued: number
  /** Every job row in the journal, whatever its status: what retention has to keep bounded. */
  jobs: number
}

const MiB = 2 ** 20

/** VmRSS of a process in bytes, from /proc/<pid>/status (in kB there). */
function residentBytes(pid: number): number {
  const line = fs
    .readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))
  return line ? Number(line.replace(/\D/g, '')) * 1024 : Number.NaN
}

/** `Anonymous:` of /proc/<pid>/smaps_rollup in bytes (kB there): RSS that no file backs. */
function anonymousBytes(pid: number): number {
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Anonymous:'))
    return line ? Number(line.replace(/\D/g, '')) * 1024 : Number.NaN
  } catch {
    return Number.NaN // no smaps_rollup before Linux 4.14
  }
}

/** Files below `dir`, recursively; a folder removed while we walk counts as empty. */
function countFiles(dir: string): number {
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  let n = 0
  for (const entry of entries) n += entry.isDirectory() ? countFiles(path.join(dir, entry.name)) : 1
  return n
}

const sizeOf = (file: string) => {
  try {
    return fs.statSync(file).size
  } catch {
    return 0
  }
}

/**
 * Where the database's pages go, by table (indexes counted with their table), from SQLite's dbstat: the file
 * size alone cannot tell rows kept by design from rows retention should have removed. Read-only, and brief: a
 * reader in WAL mode does not block the service's writes.
 */
function pagesByTable(file: string) {
  // One read-only connection a file for the soak's life, its statements held: on Node 24 a statement left to the
  // collector aborts the process (sqlite-handles.ts).
  let reader = readers.get(file)
  if (!reader) {
    reader = holdStatements(new Sqlite(file, { readonly: true, fileMustExist: true }))
    readers.set(file, reader)
  }
  const rows = reader
    .prepare(
      'SELECT m.tbl_name AS name, SUM(d.pgsize) AS bytes FROM dbstat d JOIN sqlite_schema m ON m.name = d.name GROUP BY m.tbl_name',
    )
    .all() as { name: string; bytes: number }[]
  const bytes = (name: string) => rows.find((r) => r.name === name)?.bytes ?? 0
  const free = (reader.pragma('freelist_count') as number) * (reader.pragma('page_size') as number)
  return {
    usersMiB: bytes('users') / MiB,
    jobsTableMiB: (bytes('jobs') + bytes('jobs_done')) / MiB,
    freeMiB: free / MiB,
  }
}
const readers = new Map<string, HeldStatements>()

/** One sample of the service: its process from /proc, its files from DATA_DIR, the rest from its /metrics. */
export async function sampleService(service: LocalService, minute: number): Promise<SoakSample> {
  const paths = storagePaths(service.dataDir)
  const metrics = await (await fetch(`${service.url}/metrics`)).text()
  return {
    minute,
    rssMiB: residentBytes(service.pid) / MiB,
    rssMetricMiB: metricValue(metrics, 'process_resident_memory_bytes') / MiB,
    anonMiB: anonymousBytes(service.pid) / MiB,
    heapUsedMiB: metricValue(metrics, 'nodejs_heap_size_used_bytes') / MiB,
    externalMiB: metricValue(metrics, 'nodejs_external_memory_bytes') / MiB,
    fds: fs.readdirSync(`/proc/${service.pid}/fd`).length,
    files: countFiles(service.dataDir),
    mailFiles: countFiles(paths.mailFolder),
    dbMiB: ['', '-wal', '-shm'].reduce((sum, suffix) => sum + sizeOf(paths.database + suffix), 0) / MiB,
    walMiB: sizeOf(`${paths.database}-wal`) / MiB,
    ...pagesByTable(paths.database),
    eventLoopP99Ms: metricValue(metrics, 'nodejs_eventloop_lag_p99_seconds') * 1000,
    queued: metricSum(metrics, 'deckhand_jobs', { status: 'queued' }),
    jobs: metricSum(metrics, 'deckhand_jobs'),
  }
}
