/**
 * The limit for signups, as phase 1 is the limit for images: a bare Fastify route over better-sqlite3 doing
 * the transaction a deckhand signup does (one user row, two job rows, in deckhand's own schema), with nothing
 * else: no validation beyond a JSON schema, no error mapping, no plugins, no background work. WAL with
 * synchronous NORMAL, as the issue that asked for it measured it. Run as a process of its own, like the service:
 *   node --import tsx src/bench/signup-limit.ts   (PORT, DATA_DIR from the environment)
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import Fastify from 'fastify'
import { Kysely, SqliteDialect } from 'kysely'
import { migrateToLatest } from '../db/migrations.ts'
import { adminNoticeMailJob, welcomeMailJob } from '../mail/kinds.ts'

const sqlite = new Sqlite(path.join(process.env.DATA_DIR ?? '.', 'limit.sqlite'))
sqlite.pragma('journal_mode = WAL')
sqlite.pragma('synchronous = NORMAL')
// deckhand's tables and indexes, so the transaction writes the same rows into the same B-trees.
// 0009 edits sqlite_schema, which better-sqlite3's defensive mode forbids unless asked, as database.ts does.
await migrateToLatest(new Kysely<unknown>({ dialect: new SqliteDialect({ database: sqlite }) }), {
  schemaEdits: (allowed) => sqlite.unsafeMode(allowed),
})

const insertUser = sqlite.prepare(
  'INSERT INTO users (id, email, email_key, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
)
const insertJob = sqlite.prepare(
  "INSERT INTO jobs (id, kind, owner_id, payload, status, run_at, created_at) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
)
const signUp = sqlite.transaction((id: string, email: string, name: string | null, hash: string) => {
  const now = Date.now()
  insertUser.run(id, email, email.toLowerCase(), name, hash, now)
  const payload = JSON.stringify({ userId: id, email, name })
  const jobs = [welcomeMailJob.name, adminNoticeMailJob.name].map((kind) => {
    const jobId = randomUUID()
    insertJob.run(jobId, kind, id, payload, now, now)
    return { id: jobId, kind }
  })
  return jobs
})

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
    const jobs = signUp(id, request.body.email, request.body.name ?? null, hash)
    return reply.code(201).send({ id, token: `${id}.${secret}`, jobs })
  },
)
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
process.once('SIGTERM', () => {
  void app.close().then(() => {
    sqlite.close()
    process.exit(0)
  })
})
