import type { Db } from '../db/database.ts'

export interface Webhook {
  userId: string
  url: string
  /** `whsec_…`: the Standard Webhooks signing secret, shown to the user once. */
  secret: string
}

export interface WebhooksRepository {
  get(userId: string): Promise<Webhook | undefined>
  /** Sets the user's webhook, replacing the one before (URL and secret both). */
  save(webhook: Webhook, now: number): Promise<void>
  remove(userId: string): Promise<void>
  /** Removes the webhook only if it still points at `url`: a 410 from an old URL leaves a new one be. */
  removeIfUrl(userId: string, url: string): Promise<void>
}

export function createWebhooksRepository(db: Db): WebhooksRepository {
  return {
    async get(userId) {
      const row = await db.selectFrom('webhooks').selectAll().where('user_id', '=', userId).executeTakeFirst()
      return row && { userId: row.user_id, url: row.url, secret: row.secret }
    },
    async save({ userId, url, secret }, now) {
      await db
        .insertInto('webhooks')
        .values({ user_id: userId, url, secret, created_at: now })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ url, secret, created_at: now }))
        .execute()
    },
    async remove(userId) {
      await db.deleteFrom('webhooks').where('user_id', '=', userId).execute()
    },
    async removeIfUrl(userId, url) {
      await db.deleteFrom('webhooks').where('user_id', '=', userId).where('url', '=', url).execute()
    },
  }
}
