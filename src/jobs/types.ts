import type { Logger } from 'pino'
import type { Transaction } from '../db/database.ts'

import type { FinishedStatus, JobStatus } from './statuses.ts'

export type { FinishedStatus, JobStatus }

// The jobs table holds only these statuses; db/schema.ts leaves the column's type to jobs/, which sits above it.
declare module '../db/schema.ts' {
  interface JobStatusColumn {
    status: JobStatus
  }
}

export interface JobErrorInfo {
  code: string
  /** deckhand's own words, shown to the job's owner. */
  message: string
  /** What the library or the far end said; for the log and the admin API only. */
  detail?: string
}

/** One unit of background work, as clients and handlers see it, whichever queue carries it. */
export interface Job<P = unknown> {
  id: string
  kind: string
  /** The user whose token may read this job. */
  ownerId: string
  payload: P
  status: JobStatus
  attempts: number
  /** When a queued job becomes due (epoch ms); in the future while it waits out a retry delay. */
  runAt: number
  stage: string | null
  lastError: JobErrorInfo | null
  result: unknown
  createdAt: number
  startedAt: number | null
  finishedAt: number | null
}

/** A job moved on: what an event stream tells its client. Stages are the handler's own words. */
export interface JobChange {
  id: string
  status: JobStatus
  stage: string | null
}

export interface NewJob<P = unknown> {
  kind: string
  ownerId: string
  payload: P
}

/**
 * What the HTTP side needs of the queue. Two implementations: the database journal (the default, one
 * process) and BullMQ (QUEUE=bullmq, any number of worker processes). Routes and handlers see only this.
 */
export interface JobStore {
  /** Where jobs live, for the start-up log. */
  readonly describe: string
  /**
   * Queues `jobs` inside `tx` (see transact()): they exist if and only if the rest of its writes do (the
   * transactional outbox), and runners hear of them once it has committed.
   */
  enqueue(tx: Transaction, jobs: NewJob[]): Promise<Job[]>
  get(id: string): Promise<Job | undefined>
  /** Jobs of this kind queued or running. */
  pendingCount(kind: string): Promise<number>
  /** One owner's jobs of this kind queued or running; costs in proportion to that owner's jobs, not everyone's. */
  pendingCountOf(kind: string, ownerId: string): Promise<number>
  /** The newest jobs in a status, optionally of one kind. */
  list(filter: { status: JobStatus; kind?: string | undefined; limit: number }): Promise<Job[]>
  /**
   * Calls a job off. A queued job (waiting out a retry too) is cancelled at once, with `error` as its last error;
   * a running one is asked to stop, wherever it runs, and its runner records it cancelled once it has (or its
   * outcome, if it ended first). Returns the job as it is after the request; a finished job is left as it is.
   */
  cancel(id: string, error: JobErrorInfo, now: number): Promise<Job | undefined>
  /** A failed job back to queued with a fresh set of attempts, as it is then; undefined when it had not failed. */
  requeueFailed(id: string, now: number): Promise<Job | undefined>
  /**
   * Calls `listener` with the id of each job that reaches a final state (succeeded or failed), wherever it ran.
   * Best effort: a listener that must not miss one also looks again now and then.
   */
  onSettled(listener: (id: string) => void): void
  /**
   * Calls `listener` each time a job moves on (queued, running, a new stage, queued again for a retry, finished),
   * wherever it runs. Best effort like onSettled: followers look again now and then.
   */
  onChange(listener: (change: JobChange) => void): void
  /**
   * Every job of `kind` in one of `statuses`, read at one instant: a job moving between two of them is seen.
   * For sweeps of files that jobs hold; callers keep the statuses to sets that stay small.
   */
  listAll(kind: string, statuses: readonly JobStatus[]): Promise<Job[]>
  /**
   * Deletes at most `limit` jobs that reached `status` before `before` (epoch ms) and returns how many it
   * deleted: one bounded statement, so the retention sweep can yield between batches.
   */
  deleteFinished(status: FinishedStatus, before: number, limit: number): Promise<number>
  /** Throws when the store's own server (Redis) cannot be reached; absent where the store is the database. */
  ping?(): Promise<void>
  /**
   * When the oldest job of each kind that is due now (queued, its run time passed) became due: how long the
   * queue keeps work waiting, the figure a backlog shows first. Kinds with nothing due are left out.
   */
  oldestDue(now: number): Promise<{ kind: string; dueSince: number }[]>
  /** How many jobs there are of each kind in each status (for metrics). */
  depth(): Promise<{ kind: string; status: JobStatus; count: number }[]>
  /**
   * Folds what the store keeps to answer depth() into as little as it can, on the sweep's timer; absent where
   * there is nothing to fold. Returns the rows folded away.
   */
  foldCounts?(): Promise<number>
  close(): Promise<void>
}

/** The database journal: a JobStore that the dispatcher claims jobs from. */
export interface Journal extends JobStore {
  /**
   * Calls `listener` after a commit that queued jobs, with their kinds, or after an admin's requeue, without: a
   * runner looks at once (at the lanes of those kinds; at all without them).
   */
  onEnqueued(listener: (kinds?: readonly string[]) => void): void
  /**
   * Marks up to `limit` due jobs of these kinds running, counting an attempt, and returns them. With `share`, no
   * owner ends up with more than `perOwner` running (theirs already running counted): their jobs are passed over.
   */
  claim(kinds: readonly string[], limit: number, now: number, share?: OwnerShare): Promise<Job[]>
  setStage(id: string, stage: string): Promise<void>
  succeed(id: string, result: unknown, now: number): Promise<void>
  /** Back to queued, due at `runAt`, keeping the error for clients to see. */
  retry(id: string, error: JobErrorInfo, runAt: number): Promise<void>
  fail(id: string, error: JobErrorInfo, now: number): Promise<void>
  /** A running job stopped because it was called off: cancelled, `error` saying why. */
  cancelled(id: string, error: JobErrorInfo, now: number): Promise<void>
  /** Calls `listener` when cancel() was asked of a running job: the runner that runs it stops it. */
  onCancelRequested(listener: (id: string, error: JobErrorInfo) => void): void
  /** Back to queued without counting the attempt: the job was interrupted by us, not by its own fault. */
  release(id: string): Promise<void>
  /** After a crash: every job left running goes back to queued. Returns how many. */
  requeueRunning(): Promise<number>
  /** Earliest run_at among queued jobs of these kinds, if any; with `after`, the earliest later than it. */
  nextDueAt(kinds: readonly string[], after?: number): Promise<number | undefined>
}

/** A claim's limit per owner: each owner's jobs of the lane running now, and how many each may have. */
export interface OwnerShare {
  perOwner: number
  running: ReadonlyMap<string, number>
}

/** Runs jobs from a JobStore: the dispatcher for the journal, BullMQ workers for BullMQ. */
export interface JobRunner {
  /** True between start() and the first stop request. */
  readonly running: boolean
  start(): Promise<void>
  /** Takes no more jobs; those running carry on. The grace period of `stop()` counts from here. */
  stopClaiming(): void
  /** Lets running jobs finish within `graceMs` of the first stop request, then interrupts the rest. */
  stop(graceMs: number): Promise<void>
}

/** Whether a job is still on its way (queued, waiting out a retry, or running). */
export const isPending = (job: Job | undefined): boolean => job?.status === 'queued' || job?.status === 'running'

export interface JobContext {
  signal: AbortSignal
  log: Logger
  /** Records what the job is doing now, shown by `GET /jobs/:id` while it runs. */
  setStage(stage: string): void
}

export type JobHandler<P = unknown> = (job: Job<P>, ctx: JobContext) => Promise<unknown>

/** A set of job kinds that share a concurrency budget (mail on the event loop, images in the pool). */
export interface Lane {
  name: string
  concurrency: number
  /**
   * Most jobs of one owner (Job.ownerId) running at once in this lane, so one owner's slow jobs cannot hold every
   * slot; unset: no limit but the lane's. On BullMQ it holds per worker process.
   */
  perOwner?: number
  handlers: Record<string, JobHandler>
}

export type AttemptOutcome = 'succeeded' | 'retry' | 'failed' | 'interrupted' | 'cancelled'
