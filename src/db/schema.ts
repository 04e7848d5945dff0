import type { Generated } from 'kysely'

/*
 * The tables deckhand keeps, as Kysely sees them. Times are epoch milliseconds (bigint in PostgreSQL, parsed
 * back to numbers); structured values are JSON text, so both dialects store them the same way.
 */
export interface UsersTable {
  id: string
  email: string
  /** Lower-cased: addresses compare case-insensitively, and the unique index is on this column. */
  email_key: string
  name: string | null
  /** SHA-256 of the token's secret, hex. */
  token_hash: string
  created_at: number
  /** Counts accepted avatar uploads; each upload's number orders it against the others. */
  avatar_seq: Generated<number>
  /** The job of the newest accepted upload: while it is pending, the profile says "processing". */
  avatar_job: string | null
}

/*
 * What the jobs table's status column holds. The db layer names no job status (jobs/ sits above it):
 * jobs/types.ts narrows this to its JobStatus by declaration merging, as fastify's decorators do, so every query
 * on the column stays checked against the statuses jobs/ declares.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by jobs/types.ts through declaration merging
export interface JobStatusColumn {}
type JobStatusOf<C> = C extends { status: infer S extends string } ? S : string

export interface JobsTable {
  id: string
  kind: string
  owner_id: string
  payload: string
  status: JobStatusOf<JobStatusColumn>
  attempts: Generated<number>
  run_at: number
  stage: string | null
  last_error: string | null
  result: string | null
  created_at: number
  started_at: number | null
  finished_at: number | null
  /**
   * Where the job stands in its kind's fair order (migration 0007): claimed lowest first, so that each owner's
   * backlog is interleaved with the others'. Null for kinds dispatched first come, first served (mail).
   */
  fair_rank: Generated<number | null>
}

/**
 * Succeeded jobs (migration 0010), moved out of `jobs` when they succeed: what their status page shows, no more.
 * No payload; `result` holds the job's id as JOB_ID_MARK (src/jobs/db-journal.ts).
 */
export interface JobsDoneTable {
  id: string
  kind: string
  owner_id: string
  attempts: number
  finished_at: number
  /** finished_at − created_at. */
  age_ms: number
  /** finished_at − started_at; null for a job that never started. */
  run_ms: number | null
  result: string | null
}

export interface AvatarsTable {
  user_id: string
  /** Id of the job that made it; names its folder. */
  version: string
  /** The upload's avatar_seq: a later upload always wins. */
  seq: number
  placeholder: string
  dominant_color: string
  variants: string
  updated_at: number
}

/** Jobs committed with their cause but not yet handed to BullMQ (QUEUE=bullmq): the transactional outbox. */
export interface OutboxTable {
  id: string
  kind: string
  owner_id: string
  payload: string
  created_at: number
}

/** A user's webhook: avatar events are POSTed to `url`, signed with `secret` (Standard Webhooks, `whsec_…`). */
export interface WebhooksTable {
  user_id: string
  url: string
  secret: string
  created_at: number
}

/** SQLite only: the jobs of each kind and status, kept by triggers on `jobs` (migration 0005). */
export interface JobCountsTable {
  kind: string
  status: string
  count: number
}

/** PostgreSQL only: deltas of the succeeded jobs a kind in jobs_done, appended by triggers (migration 0011). */
export interface JobDoneCountsTable {
  kind: string
  n: number
}

/** A dashboard login (migration 0006): the cookie holds a random id, this table only its hash. */
export interface DashboardSessionsTable {
  /** SHA-256 of the cookie's session id, base64url. */
  id_hash: string
  /** HMAC-SHA256 of ADMIN_TOKEN keyed with the session id, base64url: a new token ends the session. */
  token_binding: string
  expires_at: number
  created_at: number
}

/** The answer to a request sent with an Idempotency-Key (migration 0008), replayed to its retries. */
export interface IdempotencyKeysTable {
  /** 'signup', or the id of the user whose upload it was: keys are only compared within their scope. */
  scope: string
  /** SHA-256 of the key, base64url: the key itself is never stored. */
  key_hash: string
  /** SHA-256 of what identifies the request (method, route, owner, body), base64url. */
  fingerprint: string
  status: number
  /** The answer's body as JSON, without any secret (a signup's token is derived again, never stored). */
  response: string
  /** Signups: random base64url that, with the key and the user id, derives the replayed token. */
  token_salt: string | null
  created_at: number
}

export interface Schema {
  users: UsersTable
  jobs: JobsTable
  jobs_done: JobsDoneTable
  avatars: AvatarsTable
  outbox: OutboxTable
  webhooks: WebhooksTable
  job_counts: JobCountsTable
  job_done_counts: JobDoneCountsTable
  dashboard_sessions: DashboardSessionsTable
  idempotency_keys: IdempotencyKeysTable
}
