import { Redis } from 'ioredis'
import pg from 'pg'
import { scratchState } from '../../src/bench/scratch.ts'
import { type Database, openDatabase } from '../../src/db/database.ts'

/*
 * Redis and PostgreSQL for the scale-out tests. A developer's machine may have neither: those tests then skip
 * and say why. CI sets REQUIRE_SERVICES=1, where a missing service fails them instead.
 */
export const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const postgresUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const required = process.env.REQUIRE_SERVICES === '1'

interface Tap {
  teardown(fn: () => unknown): void
  plan(n: number, comment?: string): void
  fail(message: string): void
}

async function reachable(): Promise<string | undefined> {
  const problems: string[] = []
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0 })
  redis.on('error', () => {})
  try {
    await redis.connect()
    await redis.ping()
  } catch (err) {
    problems.push(`no Redis at ${redisUrl} (${(err as Error).message}; set TEST_REDIS_URL)`)
  } finally {
    redis.disconnect()
  }
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 1000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
  } catch (err) {
    problems.push(`no PostgreSQL at ${postgresUrl} (${(err as Error).message}; set TEST_DATABASE_URL)`)
  } finally {
    await client.end().catch(() => {})
  }
  return problems.length ? problems.join('; ') : undefined
}

let checked: Promise<string | undefined> | undefined

/**
 * Whether Redis and PostgreSQL answer. When they do not, skips the test with the reason, or fails it under
 * REQUIRE_SERVICES=1; the caller returns at once when this resolves false.
 */
export async function servicesAvailable(t: Tap): Promise<boolean> {
  checked ??= reachable()
  const problem = await checked
  if (!problem) return true
  if (required) t.fail(`REQUIRE_SERVICES=1 but ${problem}`)
  else t.plan(0, `skipped: needs Redis and PostgreSQL: ${problem}`)
  return false
}

/**
 * Settings for QUEUE=bullmq on a fresh PostgreSQL database and a fresh Redis key prefix, both removed when the
 * test ends: tests never see each other's users or jobs.
 */
export async function scaledEnv(t: Tap): Promise<Record<string, string>> {
  const scratch = await scratchState(postgresUrl, redisUrl, 'test')
  t.teardown(() => scratch.drop())
  return { QUEUE: 'bullmq', REDIS_URL: redisUrl, DATABASE_URL: scratch.databaseUrl, QUEUE_PREFIX: scratch.name }
}

/** The scratch PostgreSQL database of `env`, opened as deckhand opens it, closed when the test ends. */
export async function openScratchDatabase(t: Tap, env: Record<string, string>): Promise<Database> {
  const database = await openDatabase({
    url: env.DATABASE_URL,
    sqliteFile: '',
    synchronous: 'FULL',
    poolSize: 2,
    watchErrors: () => {},
    timeoutMs: 2000,
  })
  t.teardown(() => database.close())
  return database
}
