import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import { migrated } from './migrated.ts'
import { migrateToLatest } from './migrations.ts'
import { pipelinedTransactions } from './pg-transaction.ts'
import type { Schema } from './schema.ts'
import type { Database, OpenOptions } from './types.ts'
import { WriteBatch } from './write-batch.ts'

// int8 (bigint) columns and count(*) arrive as strings by default; every bigint here is an epoch-ms time or a
// count, well inside 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, Number)

/** Opens PostgreSQL behind Kysely, migrated to the latest schema (database.ts loads this for DATABASE_URL only). */
export async function openPostgresDatabase(url: string, options: OpenOptions): Promise<Database> {
  return migrated(openPostgres(url, options), () => migratePostgres(url, options.timeoutMs))
}

/**
 * Migrations on a connection of their own, without the statement time limits: a node starting beside another
 * waits on the migrator's lock for as long as the other one migrates, and a migration may take its time.
 */
async function migratePostgres(url: string, connectTimeoutMs: number): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: connectTimeoutMs })
  pool.on('error', () => {})
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) })
  try {
    await migrateToLatest(db)
  } finally {
    await db.destroy()
  }
}

function openPostgres(url: string, options: OpenOptions): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize,
    // Connecting, and waiting for a free connection when all are busy.
    connectionTimeoutMillis: options.timeoutMs,
    // A hung server: node-postgres stops waiting for the answer...
    query_timeout: options.timeoutMs,
    // ...and a slow one cancels the statement itself, so the connection is free again.
    statement_timeout: options.timeoutMs,
    // A transaction's statements go out without waiting for each other's answers (see pipelinedTransactions).
    pipeline: true,
  })
  // A connection that drops (a restarted server) emits 'error' on its client. Idle, the pool hears it, drops the
  // client and emits it again on itself; checked out between two statements of a transaction, nobody else listens,
  // and unheard it would end the process. So each client is watched from its first connect, which counts every
  // such error once; the pool's second emission of the same error needs a listener too, and nothing more.
  pool.on('connect', (client) => options.watchErrors(client, 'pg'))
  pool.on('error', () => {})
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) })
  const bookkeeping = new WriteBatch(db)
  const target = new URL(url)
  return {
    db,
    dialect: 'postgres',
    describe: `PostgreSQL ${target.hostname}:${target.port || 5432}${target.pathname}`,
    async ping() {
      await sql`SELECT 1`.execute(db)
    },
    // Every PostgreSQL commit is durable before it returns.
    durable: async () => {},
    transact: pipelinedTransactions(pool),
    record: (write) => bookkeeping.add(write),
    reclaimSpace: async () => 0,
    close: () => db.destroy(),
  }
}
