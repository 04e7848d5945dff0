import type { Db } from '../db/database.ts'
import { doneToJob, toJob } from './job-rows.ts'
import type { Journal } from './types.ts'

/**
 * Jobs read back: one by id, the newest of a status (owners' and admins' listings), and every job of a kind in some
 * statuses (the sweeps of files that jobs hold). A succeeded job is in jobs_done (migration 0010), or still in jobs
 * if it succeeded before that migration: both are read.
 */
export function journalListing(db: Db): Pick<Journal, 'get' | 'list' | 'listAll'> {
  return {
    async get(id) {
      const row = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst()
      if (row) return toJob(row)
      const done = await db.selectFrom('jobs_done').selectAll().where('id', '=', id).executeTakeFirst()
      return done && doneToJob(done)
    },

    async list({ status, kind, limit }) {
      let query = db.selectFrom('jobs').selectAll().where('status', '=', status)
      if (kind !== undefined) query = query.where('kind', '=', kind)
      const jobs = (await query.orderBy('created_at', 'desc').limit(limit).execute()).map(toJob)
      if (status !== 'succeeded') return jobs
      // The newest of jobs_done in its own order, ids being UUIDv7 (creation time first): a read of `limit` rows
      // where an order by created_at would sort the whole table.
      let done = db.selectFrom('jobs_done').selectAll()
      if (kind !== undefined) done = done.where('kind', '=', kind)
      const rows = await done.orderBy('id', 'desc').limit(limit).execute()
      return [...jobs, ...rows.map(doneToJob)].sort((a, b) => b.createdAt - a.createdAt).slice(0, limit)
    },

    async listAll(kind, statuses) {
      if (statuses.length === 0) return []
      const rows = await db
        .selectFrom('jobs')
        .selectAll()
        .where('kind', '=', kind)
        .where('status', 'in', [...statuses])
        .execute()
      const jobs = rows.map(toJob)
      if (!statuses.includes('succeeded')) return jobs
      const done = await db.selectFrom('jobs_done').selectAll().where('kind', '=', kind).execute()
      return [...jobs, ...done.map(doneToJob)]
    },
  }
}
