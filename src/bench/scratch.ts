import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'

/**
 * A throwaway deployment's state: a fresh PostgreSQL database and a Redis key prefix of the same name, for the
 * benchmark's scale-out phase and the scale-out tests. `drop()` removes both.
 */
export async function scratchState(
  postgresUrl: string,
  redisUrl: string,
  tag: string,
): Promise<{ name: string; databaseUrl: string; drop(): Promise<void> }> {
  const name = `deckhand_${tag}_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: postgresUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(postgresUrl)
  url.pathname = `/${name}`
  return {
    name,
    databaseUrl: url.href,
    async drop() {
      const client = new pg.Client({ connectionString: postgresUrl })
      await client.connect()
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await client.end()
      const redis = new Redis(redisUrl)
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${name}:*`, 'COUNT', 1000)
        if (keys.length) await redis.del(...keys)
        cursor = next
      } while (cursor !== '0')
      redis.disconnect()
    },
  }
}
