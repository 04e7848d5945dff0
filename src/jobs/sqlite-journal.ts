import { randomUUID } from 'node:crypto'
import type { Statement } from 'better-sqlite3'
import type { Db } from '../db/sqlite.ts'
import type { Job, JobErrorInfo, JobQueue, JobStatus, NewJob } from './types.ts'

interface JobRow {
  id: string
  kind: string
  owner_id: string
  payload: string
  status: JobStatus
  attempts: number
  run_at: number
  stage: string | null
  last_error: string | null
  result: string | null
  created_at: number
  started_at: number | null
  finished_at: number | null
}

function toJob(row: JobRow): Job {
  return {
    id: row.id,
    kind: row.kind,
    ownerId: row.owner_id,
    payload: JSON.parse(row.payload),
    status: row.status,
    attempts: row.attempts,
    runAt: row.run_at,
    stage: row.stage,
    lastError: row.last_error === null ? null : JSON.parse(row.last_error),
    result: row.result === null ? null : JSON.parse(row.result),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  }
}

/** The SQLite job journal: the table is the queue, so a job exists on disk before anyone hears "accepted". */
export function createSqliteJournal(db: Db, clock: () => number = Date.now): JobQueue {
  const insert = db.prepare(
    `INSERT INTO jobs (id, kind, owner_id, payload, status, run_at, created_at)
     VALUES (@id, @kind, @ownerId, @payload, 'queued', @now, @now) RETURNING *`,
  )
  const byId = db.prepare('SELECT * FROM jobs WHERE id = ?')
  const setStage = db.prepare(`UPDATE jobs SET stage = ? WHERE id = ? AND status = 'running'`)
  const succeed = db.prepare(
    `UPDATE jobs SET status = 'succeeded', result = ?, last_error = NULL, stage = NULL, finished_at = ? WHERE id = ?`,
  )
  const retry = db.prepare(
    `UPDATE jobs SET status = 'queued', last_error = ?, run_at = ?, stage = NULL, started_at = NULL WHERE id = ?`,
  )
  const fail = db.prepare(
    `UPDATE jobs SET status = 'failed', last_error = ?, stage = NULL, finished_at = ? WHERE id = ?`,
  )
  const release = db.prepare(
    `UPDATE jobs SET status = 'queued', attempts = max(attempts - 1, 0), stage = NULL, started_at = NULL
     WHERE id = ? AND status = 'running'`,
  )
  const requeueRunning = db.prepare(
    `UPDATE jobs SET status = 'queued', stage = NULL, started_at = NULL WHERE status = 'running'`,
  )
  const pending = db.prepare(
    `SELECT 1 FROM jobs WHERE owner_id = ? AND kind = ? AND status IN ('queued', 'running') LIMIT 1`,
  )
  const depth = db.prepare('SELECT kind, status, count(*) AS count FROM jobs GROUP BY kind, status')
  const pendingCount = db.prepare(`SELECT count(*) AS n FROM jobs WHERE kind = ? AND status IN ('queued', 'running')`)
  const list = db.prepare(
    `SELECT * FROM jobs WHERE status = @status AND (@kind IS NULL OR kind = @kind) ORDER BY created_at DESC LIMIT @limit`,
  )
  const requeueFailed = db.prepare(
    `UPDATE jobs SET status = 'queued', attempts = 0, run_at = ?, finished_at = NULL WHERE id = ? AND status = 'failed'`,
  )
  // Statements with a variable number of kinds are prepared once per distinct list.
  const claimCache = new Map<string, Statement<unknown[]>>()
  const nextDueCache = new Map<string, Statement<unknown[]>>()
  const inList = (kinds: readonly string[]) => kinds.map(() => '?').join(', ')

  return {
    add(jobs: NewJob[]): Job[] {
      const now = clock()
      return jobs.map((job) =>
        toJob(
          insert.get({
            id: randomUUID(),
            kind: job.kind,
            ownerId: job.ownerId,
            payload: JSON.stringify(job.payload),
            now,
          }) as JobRow,
        ),
      )
    },

    get(id) {
      const row = byId.get(id) as JobRow | undefined
      return row && toJob(row)
    },

    claim(kinds, limit, now) {
      if (kinds.length === 0 || limit <= 0) return []
      const key = kinds.join('\0')
      let stmt = claimCache.get(key)
      if (!stmt) {
        stmt = db.prepare(
          `UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = @now
           WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' AND kind IN (${inList(kinds)}) AND run_at <= @now
                        ORDER BY run_at, created_at LIMIT @limit)
           RETURNING *`,
        )
        claimCache.set(key, stmt)
      }
      const rows = stmt.all(...kinds, { now, limit }) as JobRow[]
      return rows.sort((a, b) => a.run_at - b.run_at || a.created_at - b.created_at).map(toJob)
    },

    setStage(id, stage) {
      setStage.run(stage, id)
    },

    succeed(id, result, now) {
      succeed.run(JSON.stringify(result ?? null), now, id)
    },

    retry(id, error: JobErrorInfo, runAt) {
      retry.run(JSON.stringify(error), runAt, id)
    },

    fail(id, error, now) {
      fail.run(JSON.stringify(error), now, id)
    },

    release(id) {
      release.run(id)
    },

    requeueRunning() {
      return requeueRunning.run().changes
    },

    hasPending(ownerId, kind) {
      return pending.get(ownerId, kind) !== undefined
    },

    pendingCount(kind) {
      return (pendingCount.get(kind) as { n: number }).n
    },

    list({ status, kind, limit }) {
      return (list.all({ status, kind: kind ?? null, limit }) as JobRow[]).map(toJob)
    },

    requeueFailed(id, now) {
      return requeueFailed.run(now, id).changes > 0
    },

    depth() {
      return depth.all() as { kind: string; status: JobStatus; count: number }[]
    },

    nextDueAt(kinds) {
      if (kinds.length === 0) return undefined
      const key = kinds.join('\0')
      let stmt = nextDueCache.get(key)
      if (!stmt) {
        stmt = db.prepare(`SELECT min(run_at) AS at FROM jobs WHERE status = 'queued' AND kind IN (${inList(kinds)})`)
        nextDueCache.set(key, stmt)
      }
      const row = stmt.get(...kinds) as { at: number | null }
      return row.at ?? undefined
    },
  }
}
