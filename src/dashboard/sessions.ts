import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { Database } from '../db/database.ts'
import { randomBase64url } from '../random-pool.ts'

/** The cookie's value: 256 random bits, base64url. Anything else is not looked up. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/

/*
 * Dashboard sessions live in the database, so that a logout on one api ends the session on all of them. The cookie
 * carries only a random id, derived from nothing: a captured cookie tells nothing about ADMIN_TOKEN. The table keeps
 * the id's hash (a copy of the table opens no session) and an HMAC of ADMIN_TOKEN keyed with the id, which a
 * request's id must reproduce with the process's token: a new ADMIN_TOKEN ends every session at once, on every api,
 * with no step at start-up, while guessing the token from that HMAC needs both the table and a live cookie (whose
 * holder has the dashboard already).
 */
export interface DashboardSessions {
  /** Opens a session; returns the cookie's value. */
  start(lifetimeMs: number, now?: number): Promise<string>
  /** When the session of cookie value `id` ends (epoch ms): undefined when unknown, revoked, expired or foreign. */
  endsAt(id: string | undefined, now?: number): Promise<number | undefined>
  /** Ends the session of `id` for every api sharing the database; an unknown id is no error. */
  revoke(id: string | undefined): Promise<void>
  /** Deletes sessions that expired before `now`; returns how many. */
  removeExpired(now?: number): Promise<number>
}

const idHash = (id: string) => createHash('sha256').update(id).digest('base64url')
const binding = (id: string, adminToken: string) => createHmac('sha256', id).update(adminToken).digest()

export function createDashboardSessions(database: Database, adminToken: string): DashboardSessions {
  const { db } = database
  const removeExpired = async (now = Date.now()) => {
    const result = await db.deleteFrom('dashboard_sessions').where('expires_at', '<', now).executeTakeFirst()
    return Number(result.numDeletedRows)
  }
  return {
    async start(lifetimeMs, now = Date.now()) {
      // Logins are rare: each clears the expired rows, so the table holds only live sessions and recent leftovers.
      await removeExpired(now)
      const id = randomBase64url(32)
      await db
        .insertInto('dashboard_sessions')
        .values({
          id_hash: idHash(id),
          token_binding: binding(id, adminToken).toString('base64url'),
          expires_at: now + lifetimeMs,
          created_at: now,
        })
        .execute()
      await database.durable()
      return id
    },
    async endsAt(id, now = Date.now()) {
      if (!id || !SESSION_ID.test(id)) return undefined
      const row = await db
        .selectFrom('dashboard_sessions')
        .select(['token_binding', 'expires_at'])
        .where('id_hash', '=', idHash(id))
        .executeTakeFirst()
      if (!row) return undefined
      const stored = Buffer.from(row.token_binding, 'base64url')
      const expected = binding(id, adminToken)
      if (stored.length !== expected.length || !timingSafeEqual(stored, expected)) return undefined
      const end = Number(row.expires_at)
      return end > now ? end : undefined
    },
    async revoke(id) {
      if (!id || !SESSION_ID.test(id)) return
      await db.deleteFrom('dashboard_sessions').where('id_hash', '=', idHash(id)).execute()
      // A logout that a power cut could undo would bring the session back.
      await database.durable()
    },
    removeExpired,
  }
}
