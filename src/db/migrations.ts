import { type Kysely, type Migration, type MigrationProvider, Migrator, SqliteAdapter, sql } from 'kysely'

/*
 * Schema versions, applied in name order by Kysely's migrator (which takes a lock, so several processes may
 * start at once). Append, never edit: a database may be at any earlier version. Written with the schema
 * builder so that one text serves SQLite and PostgreSQL.
 */
const migrations: Record<string, Migration> = {
  '0001_users_jobs_avatars_outbox': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('email_key', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text')
        .addColumn('token_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('avatar_seq', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('avatar_job', 'text')
        .execute()
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('owner_id', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) =>
          c.notNull().check(sql`status IN ('queued', 'running', 'succeeded', 'failed')`),
        )
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('run_at', 'bigint', (c) => c.notNull())
        .addColumn('stage', 'text')
        .addColumn('last_error', 'text')
        .addColumn('result', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .execute()
      await db.schema.createIndex('jobs_due').on('jobs').columns(['status', 'kind', 'run_at']).execute()
      await db.schema.createIndex('jobs_owner').on('jobs').column('owner_id').execute()
      await db.schema
        .createTable('avatars')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id'))
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('placeholder', 'text', (c) => c.notNull())
        .addColumn('dominant_color', 'text', (c) => c.notNull())
        .addColumn('variants', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('outbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('owner_id', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
    },
  },
  '0002_jobs_claim_order': {
    // A claim takes a kind's due jobs in (run_at, created_at) order. jobs_due (status, kind, run_at) could not
    // give that order, so every claim sorted the whole backlog: 3–5 ms per claim with 16,000 mails waiting, on
    // the event loop. In this order a claim reads only the rows it takes. It covers every use of jobs_due.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createIndex('jobs_claim_order')
        .on('jobs')
        .columns(['status', 'kind', 'run_at', 'created_at'])
        .execute()
      await db.schema.dropIndex('jobs_due').execute()
    },
  },
  '0003_jobs_finished': {
    // The retention sweep deletes a status's jobs finished before a cutoff, a batch at a time: in this order
    // each batch reads only the rows it deletes, however many jobs are kept.
    async up(db: Kysely<unknown>) {
      await db.schema.createIndex('jobs_finished').on('jobs').columns(['status', 'finished_at']).execute()
    },
  },
  '0004_webhooks': {
    // One webhook a user: where avatar events are POSTed, and the secret they are signed with.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('webhooks')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id'))
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
    },
  },
  '0005_job_counts': {
    // deckhand_jobs and the dashboard (every second while open) counted the jobs by kind and status with a
    // GROUP BY over the whole journal. On SQLite that runs on the event loop: 13 ms with 200,000 rows, 94 ms
    // with a million, and a week of retention holds many more. SQLite keeps the counts itself instead, by
    // trigger, in the transaction that changes the job: one writer, so no contention, and no cost measurable in
    // a million jobs inserted, claimed and finished. PostgreSQL counts on its own server, off the event loop, and
    // a counter row that every writer updates would make its writers wait for each other: it keeps counting.
    async up(db: Kysely<unknown>) {
      if (!(db.getExecutor().adapter instanceof SqliteAdapter)) return
      await sql`CREATE TABLE job_counts (
        kind TEXT NOT NULL, status TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (kind, status)
      ) WITHOUT ROWID`.execute(db)
      await sql`INSERT INTO job_counts (kind, status, count)
        SELECT kind, status, count(*) FROM jobs GROUP BY kind, status`.execute(db)
      await sql`CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs BEGIN
        INSERT INTO job_counts (kind, status, count) VALUES (new.kind, new.status, 1)
          ON CONFLICT (kind, status) DO UPDATE SET count = count + 1;
      END`.execute(db)
      await sql`CREATE TRIGGER job_counts_update AFTER UPDATE OF kind, status ON jobs
        WHEN old.kind IS NOT new.kind OR old.status IS NOT new.status BEGIN
        UPDATE job_counts SET count = count - 1 WHERE kind = old.kind AND status = old.status;
        INSERT INTO job_counts (kind, status, count) VALUES (new.kind, new.status, 1)
          ON CONFLICT (kind, status) DO UPDATE SET count = count + 1;
      END`.execute(db)
      await sql`CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs BEGIN
        UPDATE job_counts SET count = count - 1 WHERE kind = old.kind AND status = old.status;
      END`.execute(db)
    },
  },
  '0006_dashboard_sessions': {
    // Dashboard logins, kept on the server so that a logout ends one on every api sharing the database. The key
    // is a hash of the cookie's random id, so the table alone opens no session; `token_binding` ties the session
    // to the ADMIN_TOKEN it was opened with (see src/dashboard/sessions.ts).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('dashboard_sessions')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('token_binding', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('dashboard_sessions_expiry').on('dashboard_sessions').column('expires_at').execute()
    },
  },
  '0008_idempotency_keys': {
    // The answers of requests sent with an Idempotency-Key, so that a retry gets the first answer again. Written in
    // the transaction of what the request created, so neither exists without the other. Keyed by a hash of the key
    // (a signup's key is what its replayed token is derived from: see src/idempotency/); scope is 'signup' or the
    // uploading user's id. created_at orders the retention sweep's batches.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('idempotency_keys')
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('key_hash', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('response', 'text', (c) => c.notNull())
        .addColumn('token_salt', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_pk', ['scope', 'key_hash'])
        .execute()
      await db.schema.createIndex('idempotency_keys_created').on('idempotency_keys').column('created_at').execute()
    },
  },
}

const provider: MigrationProvider = { getMigrations: async () => migrations }

/** Brings the database to the latest schema; throws with the failing migration's error. */
export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest()
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName
    throw new Error(`database migration ${failed ?? ''} failed: ${(error as Error).message ?? error}`)
  }
}
