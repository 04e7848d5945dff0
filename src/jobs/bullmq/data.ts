import type { Job as BullJob, JobType } from 'bullmq'
import type { Selectable } from 'kysely'
import type { OutboxTable } from '../../db/schema.ts'
import { JobErrorCode } from '../../errors.ts'
import { NOT_STARTED, toJob } from '../job-rows.ts'
import type { Job, JobErrorInfo, JobStatus } from '../types.ts'

/*
 * deckhand's jobs as BullMQ holds them, and the one way back to a Job: what the store and the runner write into a
 * BullMQ job, and how a BullMQ job and its state read as deckhand's Job.
 */

/** A job committed to the outbox and not yet handed to BullMQ. */
export type OutboxRow = Selectable<OutboxTable>

/** What deckhand puts in a BullMQ job. The job's name is the kind; its id is deckhand's job id. */
export interface BullData {
  ownerId: string
  payload: unknown
  createdAt: number
  /**
   * Set when the job is called off (cancel()): a job taken after this is ended at once as cancelled, its handler
   * not run; one running is stopped by a message on cancelChannel. BullMQ keeps it as one of its failed jobs.
   */
  cancelled?: BullCancel
}

/** Why and when a BullMQ job was called off. */
export interface BullCancel extends JobErrorInfo {
  at: number
}

/** The Redis channel cancels of running jobs go out on, to every worker process; messages are CancelMessage. */
export const cancelChannel = (prefix: string) => `${prefix}:cancel`
export interface CancelMessage {
  id: string
  error: JobErrorInfo
}

/** What a worker writes as the job's progress: what clients see while it runs or waits to retry. */
export interface BullProgress {
  stage?: string | null
  lastError?: JobErrorInfo | null
  /** When the next attempt is due, while the job waits out a retry delay. */
  runAt?: number | null
  /**
   * Of a kind whose lane has a per-owner share: the attemptsStarted of the take that became an attempt. A take
   * without it is one the runner is about to defer (the owner's share was full): still queued to its owner.
   */
  started?: number | null
  /** Set on the write that marks the attempt begun (and only on it): what the event stream tells as running. */
  begun?: boolean
}

export const STATES: Record<JobStatus, JobType[]> = {
  queued: ['waiting', 'delayed', 'prioritized', 'waiting-children'],
  running: ['active'],
  succeeded: ['completed'],
  failed: ['failed'],
  // Kept by BullMQ as failed (or, called off before it was taken, still waiting to be ended): told apart by BullData.cancelled.
  cancelled: ['failed', 'waiting', 'delayed', 'prioritized'],
}

export function toStatus(state: string): JobStatus {
  if (state === 'active') return 'running'
  if (state === 'completed') return 'succeeded'
  if (state === 'failed') return 'failed'
  return 'queued'
}

export const progressOf = (job: BullJob<BullData>) =>
  (typeof job.progress === 'object' && job.progress ? job.progress : {}) as BullProgress

/**
 * Whether the latest take of a job became an attempt, for kinds whose lanes have a per-owner share: a worker may
 * take one of their jobs (BullMQ counts it started, shows it active) and hand it back unattempted, its owner's
 * share being full. The runner marks a take that goes ahead (BullProgress.started).
 */
export const begun = (job: BullJob<BullData>) => progressOf(job).started === job.attemptsStarted

/**
 * A job as read in a state. Of a deferring kind, a take not begun is queued and not an attempt, whichever state
 * was read with it (the job and its state are two reads: a take handed back in between is seen half-way).
 */
export function fromBullIn(job: BullJob<BullData>, state: string, deferring: ReadonlySet<string>): Job {
  if (!deferring.has(job.name) || begun(job)) return fromBull(job, toStatus(state))
  const status = state === 'active' ? 'queued' : toStatus(state)
  const read = fromBull(job, status)
  return { ...read, attempts: Math.max(0, read.attempts - 1), startedAt: status === 'queued' ? null : read.startedAt }
}

/**
 * Whether a job read in `status` is one called off: failed, or not yet ended by a worker (queued, or taken after the
 * cancel, which ends it without running it). Taken before it, it is running until its worker has stopped it.
 */
function isCancelled(job: BullJob<BullData>, status: JobStatus): boolean {
  const mark = job.data.cancelled
  if (!mark) return false
  if (status === 'failed' || status === 'queued') return true
  return status === 'running' && job.processedOn !== undefined && mark.at < job.processedOn
}

/** A BullMQ job as deckhand's Job. */
export function fromBull(job: BullJob<BullData>, read: JobStatus): Job {
  const progress = progressOf(job)
  const mark = job.data.cancelled
  const status: JobStatus = mark && isCancelled(job, read) ? 'cancelled' : read
  const finished = status === 'succeeded' || status === 'failed'
  const cancelled = mark && status === 'cancelled' ? { code: mark.code, message: mark.message } : undefined
  // A take after the cancel only ended the job: not an attempt, and it never started.
  const takenAfter = cancelled && job.processedOn !== undefined && (mark?.at as number) < job.processedOn
  return {
    id: job.id as string,
    kind: job.name,
    ownerId: job.data.ownerId,
    payload: job.data.payload,
    status,
    attempts: takenAfter ? Math.max(0, job.attemptsStarted - 1) : job.attemptsStarted,
    runAt: progress.runAt ?? job.timestamp,
    stage: status === 'running' ? (progress.stage ?? null) : null,
    lastError:
      cancelled ??
      (status === 'succeeded'
        ? null
        : (progress.lastError ??
          (job.failedReason ? { code: JobErrorCode.INTERNAL, message: job.failedReason } : null))),
    result: status === 'succeeded' ? (job.returnvalue ?? null) : null,
    createdAt: job.data.createdAt ?? job.timestamp,
    startedAt: takenAfter ? null : (job.processedOn ?? null),
    finishedAt: cancelled ? (job.finishedOn ?? (mark?.at as number)) : finished ? (job.finishedOn ?? null) : null,
  }
}

// A row still in the outbox is a job that no one has run yet: queued since its commit.
export const fromOutbox = (row: OutboxRow): Job =>
  toJob({
    ...row,
    status: 'queued',
    attempts: 0,
    run_at: row.created_at,
    fair_rank: null,
    ...NOT_STARTED,
  })
