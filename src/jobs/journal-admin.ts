import type { Database } from '../db/database.ts'
import type { ChangeFeed } from './change-feed.ts'
import { toJob } from './job-rows.ts'
import { cancelJob } from './journal-outcomes.ts'
import type { JobErrorInfo, Journal } from './types.ts'

export interface JournalAdminParts {
  feed: ChangeFeed
  /** Reads a job wherever it is (jobs or jobs_done). */
  get: Journal['get']
  /** Tells the runners in this process that jobs are due (of all kinds, as far as they know). */
  wakeRunners: () => void
  /** Tells the runners in this process that a job they may be running is called off. */
  askToStop: (id: string, error: JobErrorInfo) => void
}

/**
 * What an owner or an admin asks of a job: called off, or a failed one run again. Unlike the runner's writes, both
 * wait for durable() before they answer: the one asking is told the outcome.
 */
export function journalAdmin(database: Database, parts: JournalAdminParts): Pick<Journal, 'cancel' | 'requeueFailed'> {
  const { db } = database
  const { feed, get, wakeRunners, askToStop } = parts
  return {
    async cancel(id, error, now) {
      const {
        rows: [row],
      } = await cancelJob(db, [JSON.stringify(error), now, id, 'queued'])
      if (row) {
        // Its owner is told "cancelled": on disk first, or a power cut could run it after all.
        await database.durable()
        feed.changed(id, 'cancelled')
        feed.settled(id)
        return toJob(row)
      }
      const job = await get(id)
      // The dispatcher runs in this process (the journal has one runner): it stops the attempt and records it.
      if (job?.status === 'running') askToStop(id, error)
      return job
    },

    async requeueFailed(id, now) {
      const row = await db
        .updateTable('jobs')
        .set({ status: 'queued', attempts: 0, run_at: now, finished_at: null })
        .where('id', '=', id)
        .where('status', '=', 'failed')
        .returningAll()
        .executeTakeFirst()
      // The admin is told "requeued": on disk first.
      await database.durable()
      if (row) {
        feed.changed(row.id, 'queued')
        wakeRunners()
      }
      return row && toJob(row)
    },
  }
}
