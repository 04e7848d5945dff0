import type { Db } from '../db/sqlite.ts'
import type { AvatarVariant } from '../images/avatar-pipeline.ts'

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
  /** Numbers a newly accepted upload; call inside the transaction that queues its job. */
  nextSeq(userId: string): number
  current(userId: string): Avatar | undefined
  /**
   * Makes `avatar` the user's current one unless a later upload already is. Returns whether it was promoted
   * and the version it replaced, whose files may now go.
   */
  promote(avatar: Avatar): { promoted: boolean; replaced: string | undefined }
}

interface AvatarRow {
  user_id: string
  version: string
  seq: number
  placeholder: string
  dominant_color: string
  variants: string
  updated_at: number
}

const toAvatar = (row: AvatarRow): Avatar => ({
  userId: row.user_id,
  version: row.version,
  seq: row.seq,
  placeholder: row.placeholder,
  dominantColor: row.dominant_color,
  variants: JSON.parse(row.variants),
  updatedAt: row.updated_at,
})

/** Current avatars in SQLite: one row per user, replaced in a single statement so readers never see half. */
export function createAvatarsRepository(db: Db): AvatarsRepository {
  const bump = db.prepare('UPDATE users SET avatar_seq = avatar_seq + 1 WHERE id = ? RETURNING avatar_seq')
  const byUser = db.prepare('SELECT * FROM avatars WHERE user_id = ?')
  const upsert = db.prepare(
    `INSERT INTO avatars (user_id, version, seq, placeholder, dominant_color, variants, updated_at)
     VALUES (@userId, @version, @seq, @placeholder, @dominantColor, @variants, @updatedAt)
     ON CONFLICT (user_id) DO UPDATE SET
       version = excluded.version, seq = excluded.seq, placeholder = excluded.placeholder,
       dominant_color = excluded.dominant_color, variants = excluded.variants, updated_at = excluded.updated_at
     WHERE excluded.seq > avatars.seq`,
  )
  const promote = db.transaction((avatar: Avatar) => {
    const before = byUser.get(avatar.userId) as AvatarRow | undefined
    const { changes } = upsert.run({ ...avatar, variants: JSON.stringify(avatar.variants) })
    const replaced = changes > 0 && before && before.version !== avatar.version ? before.version : undefined
    return { promoted: changes > 0 || before?.version === avatar.version, replaced }
  })
  return {
    nextSeq(userId) {
      return (bump.get(userId) as { avatar_seq: number }).avatar_seq
    },
    current(userId) {
      const row = byUser.get(userId) as AvatarRow | undefined
      return row && toAvatar(row)
    },
    promote,
  }
}
