import type { Db } from '../db/database.ts'

export interface User {
  id: string
  email: string
  name: string | null
  tokenHash: Buffer
  createdAt: number
  /** The job of the user's newest accepted avatar upload: while it is pending, the profile says "processing". */
  avatarJob: string | null
}

export interface UsersRepository {
  /** Rejects with the database's unique violation when the address is taken; the caller maps it. */
  insert(user: Omit<User, 'avatarJob'>, tx?: Db): Promise<void>
  findById(id: string): Promise<User | undefined>
}

/** Users in SQLite or PostgreSQL; e-mail uniqueness is case-insensitive through the lower-cased `email_key`. */
export function createUsersRepository(db: Db): UsersRepository {
  return {
    async insert(user, tx = db) {
      await tx
        .insertInto('users')
        .values({
          id: user.id,
          email: user.email,
          email_key: user.email.toLowerCase(),
          name: user.name,
          token_hash: user.tokenHash.toString('hex'),
          created_at: user.createdAt,
          avatar_job: null,
        })
        .execute()
    },
    async findById(id) {
      const row = await db
        .selectFrom('users')
        .select(['id', 'email', 'name', 'token_hash', 'created_at', 'avatar_job'])
        .where('id', '=', id)
        .executeTakeFirst()
      return (
        row && {
          id: row.id,
          email: row.email,
          name: row.name,
          tokenHash: Buffer.from(row.token_hash, 'hex'),
          createdAt: row.created_at,
          avatarJob: row.avatar_job,
        }
      )
    },
  }
}
