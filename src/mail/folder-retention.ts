import type { SweepTask, SweepTaskOptions } from '../jobs/sweeper.ts'
import { removeOldFiles } from '../storage/old-entries.ts'

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
  return {
    name: 'mail folder retention',
    async run() {
      if (keepMs === 0) return
      const removed = await removeOldFiles(folder, clock() - keepMs)
      if (removed === 0) return
      onRemoved?.(removed)
      log.info({ removed }, 'removed mail files past their retention from the mail folder')
    },
  }
}
