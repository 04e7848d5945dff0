import { compiledOnce } from '../db/compiled.ts'
import type { Db } from '../db/database.ts'
import type { Transaction } from '../db/transaction.ts'

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
  /**
   * Inserts the user inside `tx`, as a write sent with the transaction's next statement (Transaction.write): the
   * transaction fails with the database's unique violation when the address is taken; the caller maps it.
   */
  insert(user: Omit<User, 'avatarJob'>, tx: Transaction): void
  findById(id: string): Promise<User | undefined>
}

/** Every signup's insert, built and compiled once; values: id, email, email key, name, token hash, created at. */
const insertUser = compiledOnce((db, value) =>
  db.insertInto('users').values({
    id: value(0),
    email: value(1),
    email_key: value(2),
    name: value(3),
    token_hash: value(4),
    created_at: value(5),
    avatar_job: null,
  }),
)

/** Users in SQLite or PostgreSQL; e-mail uniqueness is case-insensitive through the lower-cased `email_key`. */
export function createUsersRepository(db: Db): UsersRepository {
  return {
    insert(user, tx) {
      tx.write(
        insertUser.compile(tx.db, [
          user.id,
          user.email,
          user.email.toLowerCase(),
          user.name,
          user.tokenHash.toString('hex'),
          user.createdAt,
        ]),
      )
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
