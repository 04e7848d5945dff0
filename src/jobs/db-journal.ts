import type { Database } from '../db/database.ts'
import { ChangeFeed } from './change-feed.ts'
import { journalAdmin } from './journal-admin.ts'
import { journalClaims } from './journal-claims.ts'
import { journalCounts } from './journal-counts.ts'
import { insertQueued } from './journal-enqueue.ts'
import { journalListing } from './journal-listing.ts'
import { journalOutcomes } from './journal-outcomes.ts'
import { journalDeleteFinished } from './journal-retention.ts'
import type { JobErrorInfo, Journal } from './types.ts'

export interface DbJournalOptions {
  /** Kinds dispatched fairly between owners (src/jobs/fair-rank.ts); the others first come, first served. */
  fairKinds?: readonly string[]
  clock?: () => number
}

/**
 * The job journal in the database (SQLite by default, PostgreSQL with DATABASE_URL): the table is the queue,
 * so a job is on disk before anyone hears "accepted". One process claims from it; to spread work over several
 * machines use QUEUE=bullmq. Assembled here from its parts (journal-*.ts): the enqueue, the claims, the runner's
 * outcomes, an owner's or admin's requests, listings, counts and the retention sweep's delete.
 */
export function createDbJournal(database: Database, options: DbJournalOptions = {}): Journal {
  const clock = options.clock ?? Date.now
  const fairKinds = new Set(options.fairKinds)
  // The dispatcher that settles jobs runs in this process, so the journal itself tells waiters and event streams.
  const feed = new ChangeFeed()

  // Runners in this process, told when jobs become due (of which kinds, when known) so they need not wait for
  // their next poll.
  const enqueuedListeners = new Set<(kinds?: readonly string[]) => void>()
  const wakeRunners = (kinds?: readonly string[]) => {
    for (const listener of enqueuedListeners) listener(kinds)
  }
  // Runners in this process, told of a cancel asked of a job they run.
  const cancelListeners = new Set<(id: string, error: JobErrorInfo) => void>()
  const askToStop = (id: string, error: JobErrorInfo) => {
    for (const listener of cancelListeners) listener(id, error)
  }

  const listing = journalListing(database.db)

  // Claims and outcomes go through database.record(): they commit with whatever else the turn writes (signups
  // included, in SQLite): a commit each had been a large share of the event loop under a mail flood
  // (src/bench/RESULTS.md, moved from code comments). Job bookkeeping (claims, stages, outcomes) does not wait for durable(): lost to a power cut, it
  // only means a job runs again, as after any crash. Accepting work (transact()) and an admin's requeue do.
  return {
    describe: `journal in ${database.describe}`,

    onSettled: (listener) => feed.onSettled(listener),
    onChange: (listener) => feed.onChange(listener),
    onEnqueued: (listener) => void enqueuedListeners.add(listener),
    onCancelRequested: (listener) => void cancelListeners.add(listener),

    async enqueue(tx, jobs) {
      if (jobs.length === 0) return []
      const queued = await insertQueued(tx, jobs, clock(), fairKinds)
      // After the commit, not before: a runner woken earlier would look and find nothing yet.
      tx.afterCommit(() => {
        for (const job of queued) feed.changed(job.id, 'queued')
        wakeRunners([...new Set(queued.map((job) => job.kind))])
      })
      return queued
    },

    ...listing,
    ...journalClaims(database, fairKinds, feed),
    ...journalOutcomes(database, feed),
    ...journalAdmin(database, { feed, get: listing.get, wakeRunners, askToStop }),
    ...journalCounts(database),
    deleteFinished: journalDeleteFinished(database.db),

    // The database is closed by its owner, after every user of it.
    async close() {},
  }
}
