import type { Db } from '../db/database.ts'

/** A request's answer as kept for its retries. */
export interface StoredAnswer {
  status: number
  /** The answer's body, without secrets. */
  body: unknown
  /** Signups: what, with the key and the user id, derives the token again (src/auth/tokens.ts, derivedToken). */
  tokenSalt: string | null
}

export interface StoredRequest extends StoredAnswer {
  fingerprint: string
}

/** The rows of `idempotency_keys`, in SQLite or PostgreSQL. */
export interface IdempotencyRecords {
  /** The answer kept for this key, if it was written at or after `since` (epoch ms). */
  find(scope: string, keyHash: string, since: number): Promise<StoredRequest | undefined>
  /**
   * Writes the answer inside the transaction of what the request created. A row of this key older than `since`
   * is the key's earlier life, past its TTL: it goes first. A live one makes the insert fail with the database's
   * unique violation: another request with the key committed first.
   */
  save(tx: Db, scope: string, keyHash: string, request: StoredRequest, now: number, since: number): Promise<void>
  /** Deletes at most `limit` rows written before `before`; returns how many. */
  deleteExpired(before: number, limit: number): Promise<number>
}

export function createIdempotencyRecords(db: Db): IdempotencyRecords {
  return {
    async find(scope, keyHash, since) {
      const row = await db
        .selectFrom('idempotency_keys')
        .select(['fingerprint', 'status', 'response', 'token_salt'])
        .where('scope', '=', scope)
        .where('key_hash', '=', keyHash)
        .where('created_at', '>=', since)
        .executeTakeFirst()
      return (
        row && {
          fingerprint: row.fingerprint,
          status: row.status,
          body: JSON.parse(row.response),
          tokenSalt: row.token_salt,
        }
      )
    },
    async save(tx, scope, keyHash, request, now, since) {
      await tx
        .deleteFrom('idempotency_keys')
        .where('scope', '=', scope)
        .where('key_hash', '=', keyHash)
        .where('created_at', '<', since)
        .execute()
      await tx
        .insertInto('idempotency_keys')
        .values({
          scope,
          key_hash: keyHash,
          fingerprint: request.fingerprint,
          status: request.status,
          response: JSON.stringify(request.body),
          token_salt: request.tokenSalt,
          created_at: now,
        })
        .execute()
    },
    async deleteExpired(before, limit) {
      // No DELETE … LIMIT in SQLite: the batch is chosen by a subquery through idempotency_keys_created, so each
      // statement touches at most `limit` rows however many are kept.
      const result = await db
        .deleteFrom('idempotency_keys')
        .where(({ eb, refTuple, selectFrom }) =>
          eb(
            refTuple('scope', 'key_hash'),
            'in',
            selectFrom('idempotency_keys')
              .select(['scope', 'key_hash'])
              .where('created_at', '<', before)
              .limit(limit)
              .$asTuple('scope', 'key_hash'),
          ),
        )
        .executeTakeFirst()
      return Number(result.numDeletedRows)
    },
  }
}
