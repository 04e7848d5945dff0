/**
 * The limit for signups, as phase 1 is the limit for images: a bare Fastify route doing the transaction a deckhand
 * signup does (one user row, two job rows, in deckhand's own schema), with nothing else: no validation beyond a
 * JSON schema, no error mapping, no plugins, no background work. Run as a process of its own, like the service:
 *   node --import tsx src/bench/signup-limit.ts   (PORT, DATA_DIR, DATABASE_URL from the environment)
 * With DATABASE_URL, PostgreSQL through pg (a pool of 10, one statement after another, as an application written
 * the plain way does); else better-sqlite3 in WAL with synchronous NORMAL, as the issue that asked for it measured.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import Fastify from 'fastify'
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely'
import pg from 'pg'
import { migrateToLatest } from '../db/migrations.ts'
import { holdStatements } from '../db/sqlite-handles.ts'
import { adminNoticeMailJob, welcomeMailJob } from '../mail/kinds.ts'

interface Signup {
  id: string
  email: string
  name: string | null
  hash: string
}
type SignUp = (signup: Signup) => Promise<{ id: string; kind: string }[]>
const KINDS = [welcomeMailJob.name, adminNoticeMailJob.name]

/** better-sqlite3, statements prepared once, the transaction on the event loop. */
async function sqliteSignUp(): Promise<{ signUp: SignUp; close(): Promise<void> }> {
  const sqlite = new Sqlite(path.join(process.env.DATA_DIR ?? '.', 'limit.sqlite'))
  // Every statement held for the process's life, as deckhand holds its own: on Node 24 a statement left to the
  // collector aborts the process (sqlite-handles.ts), and the migrations' statements would be.
  const statements = holdStatements(sqlite)
  statements.pragma('journal_mode = WAL')
  statements.pragma('synchronous = NORMAL')
  // deckhand's tables and indexes, so the transaction writes the same rows into the same B-trees.
  // 0009 edits sqlite_schema, which better-sqlite3's defensive mode forbids unless asked, as database.ts does.
  const database = { prepare: statements.prepare, close: () => sqlite.close() }
  await migrateToLatest(new Kysely<unknown>({ dialect: new SqliteDialect({ database }) }), {
    schemaEdits: (allowed) => sqlite.unsafeMode(allowed),
  })
  const insertUser = statements.prepare(
    'INSERT INTO users (id, email, email_key, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  )
  const insertJob = statements.prepare(
    "INSERT INTO jobs (id, kind, owner_id, payload, status, run_at, created_at) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
  )
  const signUp = sqlite.transaction(({ id, email, name, hash }: Signup) => {
    const now = Date.now()
    insertUser.run(id, email, email.toLowerCase(), name, hash, now)
    const payload = JSON.stringify({ userId: id, email, name })
    return KINDS.map((kind) => {
      const jobId = randomUUID()
      insertJob.run(jobId, kind, id, payload, now, now)
      return { id: jobId, kind }
    })
  })
  return { signUp: async (signup) => signUp(signup), close: async () => void sqlite.close() }
}

/** pg, a pool of 10: BEGIN, the user, the two jobs in one statement, COMMIT, on one connection. */
async function postgresSignUp(url: string): Promise<{ signUp: SignUp; close(): Promise<void> }> {
  const migrator = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }),
  })
  await migrateToLatest(migrator)
  await migrator.destroy()
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  const signUp: SignUp = async ({ id, email, name, hash }) => {
    const now = Date.now()
    const payload = JSON.stringify({ userId: id, email, name })
    const jobs = KINDS.map((kind) => ({ id: randomUUID(), kind }))
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      await client.query(
        'INSERT INTO users (id, email, email_key, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [id, email, email.toLowerCase(), name, hash, now],
      )
      await client.query(
        `INSERT INTO jobs (id, kind, owner_id, payload, status, run_at, created_at)
         VALUES ($1, $2, $5, $6, 'queued', $7, $7), ($3, $4, $5, $6, 'queued', $7, $7)`,
        [jobs[0]?.id, jobs[0]?.kind, jobs[1]?.id, jobs[1]?.kind, id, payload, now],
      )
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      client.release()
    }
    return jobs
  }
  return { signUp, close: () => pool.end() }
}

const store = process.env.DATABASE_URL ? await postgresSignUp(process.env.DATABASE_URL) : await sqliteSignUp()
const app = Fastify({ logger: false })
app.get('/readyz', async () => ({ status: 'ok' }))
app.post<{ Body: { email: string; name?: string } }>(
  '/signup',
  {
    schema: {
      body: {
        type: 'object',
        required: ['email'],
        properties: { email: { type: 'string' }, name: { type: 'string' } },
      },
    },
  },
  async (request, reply) => {
    const id = randomUUID()
    const secret = randomBytes(32).toString('base64url')
    const hash = createHash('sha256').update(secret).digest('hex')
    const jobs = await store.signUp({ id, email: request.body.email, name: request.body.name ?? null, hash })
    return reply.code(201).send({ id, token: `${id}.${secret}`, jobs })
  },
)
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
process.once('SIGTERM', () => {
  void app.close().then(async () => {
    await store.close()
    process.exit(0)
  })
})
