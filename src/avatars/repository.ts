import type { Selectable } from 'kysely'
import { type Database, type Db, transact } from '../db/database.ts'
import type { AvatarsTable } from '../db/schema.ts'
import type { AvatarVariant } from './render.ts'

export interface Avatar {
  userId: string
  version: string
  seq: number
  placeholder: string
  dominantColor: string
  variants: AvatarVariant[]
  updatedAt: number
}

export interface AvatarsRepository {
  /**
   * Numbers a newly accepted upload; call inside the transaction that queues the job. Returns its number and the
   * job of the upload before it (read under the same row lock, so concurrent uploads each see their predecessor).
   */
  recordUpload(userId: string, tx: Db): Promise<{ seq: number; previous: string | undefined }>
  /** Names the job of the newest accepted upload, once it has an id. */
  setLatestJob(userId: string, jobId: string, tx: Db): Promise<void>
  current(userId: string): Promise<Avatar | undefined>
  /** The current version of each of these users that has an avatar. */
  currentVersions(userIds: readonly string[]): Promise<Map<string, string>>
  /**
   * Makes `avatar` the user's current one unless a later upload already is. Returns whether it was promoted
   * and the version it replaced, whose files may now go.
   */
  promote(avatar: Avatar): Promise<{ promoted: boolean; replaced: string | undefined }>
}

const toAvatar = (row: Selectable<AvatarsTable>): Avatar => ({
  userId: row.user_id,
  version: row.version,
  seq: row.seq,
  placeholder: row.placeholder,
  dominantColor: row.dominant_color,
  variants: JSON.parse(row.variants),
  updatedAt: row.updated_at,
})

/** Current avatars: one row per user, replaced in a single statement so readers never see half. */
export function createAvatarsRepository(database: Database): AvatarsRepository {
  const { db, dialect } = database
  return {
    async recordUpload(userId, tx) {
      const row = await tx
        .updateTable('users')
        .set((eb) => ({ avatar_seq: eb('avatar_seq', '+', 1) }))
        .where('id', '=', userId)
        .returning(['avatar_seq', 'avatar_job'])
        .executeTakeFirstOrThrow()
      return { seq: row.avatar_seq, previous: row.avatar_job ?? undefined }
    },
    async setLatestJob(userId, jobId, tx) {
      await tx.updateTable('users').set({ avatar_job: jobId }).where('id', '=', userId).execute()
    },
    async current(userId) {
      const row = await db.selectFrom('avatars').selectAll().where('user_id', '=', userId).executeTakeFirst()
      return row && toAvatar(row)
    },
    async currentVersions(userIds) {
      if (userIds.length === 0) return new Map()
      const rows = await db
        .selectFrom('avatars')
        .select(['user_id', 'version'])
        .where('user_id', 'in', [...userIds])
        .execute()
      return new Map(rows.map((r) => [r.user_id, r.version]))
    },
    promote(avatar) {
      return transact(database, async ({ db: tx }) => {
        if (dialect === 'postgres') {
          // Two workers promoting for one user would each read the same "before" and leak a version's files:
          // the user's row lock puts them in turn. (SQLite writers are already serialised.)
          await tx.selectFrom('users').select('id').where('id', '=', avatar.userId).forUpdate().execute()
        }
        const before = await tx
          .selectFrom('avatars')
          .select('version')
          .where('user_id', '=', avatar.userId)
          .executeTakeFirst()
        const { numInsertedOrUpdatedRows } = await tx
          .insertInto('avatars')
          .values({
            user_id: avatar.userId,
            version: avatar.version,
            seq: avatar.seq,
            placeholder: avatar.placeholder,
            dominant_color: avatar.dominantColor,
            variants: JSON.stringify(avatar.variants),
            updated_at: avatar.updatedAt,
          })
          .onConflict((oc) =>
            oc
              .column('user_id')
              .doUpdateSet((eb) => ({
                version: eb.ref('excluded.version'),
                seq: eb.ref('excluded.seq'),
                placeholder: eb.ref('excluded.placeholder'),
                dominant_color: eb.ref('excluded.dominant_color'),
                variants: eb.ref('excluded.variants'),
                updated_at: eb.ref('excluded.updated_at'),
              }))
              .where('excluded.seq', '>', (eb) => eb.ref('avatars.seq')),
          )
          .executeTakeFirst()
        const changed = Number(numInsertedOrUpdatedRows ?? 0) > 0
        const replaced = changed && before && before.version !== avatar.version ? before.version : undefined
        return { promoted: changed || before?.version === avatar.version, replaced }
      })
    },
  }
}
