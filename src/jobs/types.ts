export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed'

export interface JobErrorInfo {
  code: string
  message: string
}

/** One unit of background work, as the journal keeps it. */
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

export interface NewJob<P = unknown> {
  kind: string
  ownerId: string
  payload: P
}

/**
 * The durable queue behind the dispatcher. A job handed to `add` is on disk when it returns; the SQLite
 * journal implements it today, and a Redis/BullMQ backend can stand beside it without touching routes or
 * handlers.
 */
export interface JobQueue {
  /** Writes jobs durably; runs inside the caller's database transaction when there is one. */
  add(jobs: NewJob[]): Job[]
  get(id: string): Job | undefined
  /** Marks up to `limit` due jobs of these kinds running, counting an attempt, and returns them. */
  claim(kinds: readonly string[], limit: number, now: number): Job[]
  setStage(id: string, stage: string): void
  succeed(id: string, result: unknown, now: number): void
  /** Back to queued, due at `runAt`, keeping the error for clients to see. */
  retry(id: string, error: JobErrorInfo, runAt: number): void
  fail(id: string, error: JobErrorInfo, now: number): void
  /** Back to queued without counting the attempt: the job was interrupted by us, not by its own fault. */
  release(id: string): void
  /** After a crash: every job left running goes back to queued. Returns how many. */
  requeueRunning(): number
  /** Whether the owner has a job of this kind still queued or running. */
  hasPending(ownerId: string, kind: string): boolean
  /** Jobs of this kind queued or running. */
  pendingCount(kind: string): number
  /** The newest jobs in a status, optionally of one kind. */
  list(filter: { status: JobStatus; kind?: string | undefined; limit: number }): Job[]
  /** A failed job back to queued with a fresh set of attempts; false when the job is not failed. */
  requeueFailed(id: string, now: number): boolean
  /** How many jobs there are of each kind in each status (for metrics). */
  depth(): { kind: string; status: JobStatus; count: number }[]
  /** Earliest run_at among queued jobs of these kinds, if any. */
  nextDueAt(kinds: readonly string[]): number | undefined
}
