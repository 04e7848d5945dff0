import type { Db } from '../db/sqlite.ts'

export interface User {
  id: string
  email: string
  name: string | null
  tokenHash: Buffer
  createdAt: number
}

export interface UsersRepository {
  /** Throws `EmailTakenError`-worthy SQLite constraint errors to the caller, who maps them. */
  insert(user: User): void
  findById(id: string): User | undefined
}

interface UserRow {
  id: string
  email: string
  name: string | null
  token_hash: Buffer
  created_at: number
}

/** Users in SQLite; e-mail uniqueness is case-insensitive through the lower-cased `email_key` column. */
export function createUsersRepository(db: Db): UsersRepository {
  const insert = db.prepare(
    `INSERT INTO users (id, email, email_key, name, token_hash, created_at)
     VALUES (@id, @email, @emailKey, @name, @tokenHash, @createdAt)`,
  )
  const byId = db.prepare('SELECT * FROM users WHERE id = ?')
  return {
    insert(user) {
      insert.run({ ...user, emailKey: user.email.toLowerCase() })
    },
    findById(id) {
      const row = byId.get(id) as UserRow | undefined
      return (
        row && { id: row.id, email: row.email, name: row.name, tokenHash: row.token_hash, createdAt: row.created_at }
      )
    },
  }
}
