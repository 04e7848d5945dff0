import type { Config } from '../config.ts'
import type { SweepTask, SweepTaskOptions } from '../jobs/sweeper.ts'
import { sweepOldFiles } from '../storage/old-entries.ts'
import type { StoragePaths } from '../storage/paths.ts'

export interface MailFolderRetentionOptions extends SweepTaskOptions {
  folder: string
  /** Mail files are removed this long after they were written (JOB_RETENTION_MS); 0 keeps them. */
  keepMs: number
  onRemoved?: (count: number) => void
}

/**
 * Without SMTP_URL every mail is an .eml file in the mail folder, two a signup: kept as long as the jobs that
 * wrote them (JOB_RETENTION_MS), then removed, so the folder does not grow without bound. Whoever needs them
 * for longer copies them out or sets SMTP_URL.
 */
export function mailFolderRetentionTask(options: MailFolderRetentionOptions): SweepTask {
  const { folder, keepMs, log, onRemoved, clock = Date.now } = options
  // No file in the folder was written before this: the oldest the last pass kept, or that pass's start (the
  // folder is the writer's alone, and it writes new files only). A pass reads and stats every file, two a signup
  // kept for JOB_RETENTION_MS; until the cutoff passes this bound it could remove none, so none is made.
  let nothingBefore = Number.NEGATIVE_INFINITY
  return {
    name: 'mail folder retention',
    async run() {
      if (keepMs === 0) return
      const cutoff = clock() - keepMs
      if (cutoff < nothingBefore) return
      const started = Date.now()
      const { removed, oldestKeptMs } = await sweepOldFiles(folder, cutoff)
      nothingBefore = Math.min(oldestKeptMs, started)
      if (removed === 0) return
      onRemoved?.(removed)
      log.info({ removed }, 'removed mail files past their retention from the mail folder')
    },
  }
}

/** What the mail kinds' sweep of the mail folder is made from, in every process. */
export interface MailSweepParts extends SweepTaskOptions {
  config: Pick<Config, 'SMTP_URL' | 'JOB_RETENTION_MS'>
  paths: Pick<StoragePaths, 'mailFolder'>
  metrics: { observeFilesSwept(what: string, count: number): void }
  /** This process runs jobs: its mail jobs write the folder. */
  runsJobs: boolean
}

/** The mail kinds' files: the folder's .eml files, where jobs run without SMTP_URL; nothing elsewhere. */
export function mailFolderSweep(parts: MailSweepParts): SweepTask | undefined {
  if (!parts.runsJobs || parts.config.SMTP_URL) return undefined
  return mailFolderRetentionTask({
    folder: parts.paths.mailFolder,
    keepMs: parts.config.JOB_RETENTION_MS,
    log: parts.log,
    clock: parts.clock,
    onRemoved: (count) => parts.metrics.observeFilesSwept('mail', count),
  })
}
