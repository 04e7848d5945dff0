import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import { sql } from 'kysely'
import { openDatabase } from '../db/database.ts'
import { rowId } from '../db/row-id.ts'
import { holdStatements } from '../db/sqlite-handles.ts'
import { SIGNUP_MAIL_KINDS } from './journal-size.ts'

/*
 * `--prefill N`: phases 3 and 4 start on a journal that already holds N finished signup mails and their N/2
 * users, finished over the last six days, as a week of retention leaves the journal of a service that signs people
 * up all day. The file is made once per run, with deckhand's own migrations and then plain inserts (through the
 * journal's statements, ten million jobs would take most of an hour), and copied into each service's DATA_DIR.
 */

const SPREAD_MS = 6 * 24 * 3600 * 1000
/** Rows a transaction while filling: large enough to pay little for commits, small enough for SQLite's cache. */
const BATCH = 50_000

export interface Prefill {
  /** The journal file to copy into a service's DATA_DIR as deckhand.db. */
  file: string
  jobs: number
  users: number
  fileMiB: number
  buildSeconds: number
  remove(): void
}

export async function prefilledJournal(jobs: number, say: (line: string) => void): Promise<Prefill> {
  const started = performance.now()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-prefill-'))
  const file = path.join(dir, 'deckhand.db')
  // deckhand's schema, made as deckhand makes it (auto_vacuum, WAL, every migration).
  const database = await openDatabase({
    url: undefined,
    sqliteFile: file,
    synchronous: 'NORMAL',
    poolSize: 1,
    watchErrors: () => {},
    timeoutMs: 10_000,
  })
  await database.close()
  const sqlite = new Sqlite(file)
  // Held, never left to the collector: on Node 24 that aborts the process (sqlite-handles.ts).
  const statements = holdStatements(sqlite)
  statements.pragma('journal_mode = WAL')
  statements.pragma('synchronous = OFF')
  const insertUser = statements.prepare(
    'INSERT INTO users (id, email, email_key, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  )
  const insertDone = statements.prepare(
    'INSERT INTO jobs_done (id, kind, owner_id, attempts, finished_at, age_ms, run_ms, result) VALUES (?, ?, ?, 1, ?, ?, ?, ?)',
  )
  const users = Math.ceil(jobs / 2)
  const now = Date.now()
  const fill = sqlite.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      // In time order, as they were made: the oldest six days ago, the newest a moment ago.
      const at = now - SPREAD_MS + Math.floor((SPREAD_MS * i) / users)
      const userId = rowId(at)
      const email = `p${i}@prefill.test`
      insertUser.run(userId, email, email, null, 'f'.repeat(64), at)
      for (const [k, kind] of SIGNUP_MAIL_KINDS.entries()) {
        if (2 * i + k >= jobs) break
        // A mail's result as the journal keeps it: its Message-ID, the job's id written as one mark character.
        const result =
          kind === 'mail.welcome'
            ? `{"messageId":"<\u001f@deckhand.local>","to":"${email}"}`
            : '{"messageId":"<\u001f@deckhand.local>"}'
        insertDone.run(rowId(at), kind, userId, at + 40, 40, 12, result)
      }
    }
  })
  for (let from = 0; from < users; from += BATCH) {
    fill(from, Math.min(users, from + BATCH))
    if (from % (BATCH * 20) === 0 && from > 0) say(`prefill: ${from} of ${users} users`)
  }
  statements.pragma('wal_checkpoint(TRUNCATE)')
  sqlite.close()
  const fileMiB = fs.statSync(file).size / 2 ** 20
  const buildSeconds = (performance.now() - started) / 1000
  say(
    `prefill: ${jobs} finished mail jobs and ${users} users, ${fileMiB.toFixed(0)} MiB, in ${buildSeconds.toFixed(0)} s`,
  )
  return { file, jobs, users, fileMiB, buildSeconds, remove: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

export interface PostgresPrefill {
  jobs: number
  users: number
  /** The database's size once filled (pg_database_size), with deckhand's empty schema. */
  databaseMiB: number
  buildSeconds: number
}

/**
 * The same journal in a PostgreSQL database (phase 9 with --prefill N): deckhand's migrations, then the users and
 * finished mails made by the server itself (generate_series), with ids in time order as rowId() makes them. Run
 * on a fresh scratch database before deckhand starts on it.
 */
export async function prefillPostgres(databaseUrl: string, jobs: number): Promise<PostgresPrefill> {
  const started = performance.now()
  const database = await openDatabase({
    url: databaseUrl,
    sqliteFile: '',
    synchronous: 'NORMAL',
    poolSize: 1,
    watchErrors: () => {},
    timeoutMs: 600_000,
  })
  const users = Math.ceil(jobs / 2)
  const now = Date.now()
  // A UUIDv7 of `at` (ms): its time in the first 48 bits, as rowId() makes it, and md5 of `salt` for the rest.
  const v7 = (at: string, salt: string) => `(
    substr(lpad(to_hex(${at}), 12, '0'), 1, 8) || '-' || substr(lpad(to_hex(${at}), 12, '0'), 9, 4) || '-7' ||
    substr(md5(${salt}), 1, 3) || '-8' || substr(md5(${salt}), 4, 3) || '-' || substr(md5(${salt}), 7, 12))`
  const userAt = (i: string) => `(${now - SPREAD_MS}::bigint + (${SPREAD_MS}::bigint * ${i}) / ${users})`
  const [welcome, notice] = SIGNUP_MAIL_KINDS
  try {
    await sql`SET synchronous_commit = off`.execute(database.db)
    await sql
      .raw(
        `INSERT INTO users (id, email, email_key, name, token_hash, created_at)
         SELECT ${v7(userAt('i'), "'u' || i")}, 'p' || i || '@prefill.test', 'p' || i || '@prefill.test', NULL,
                repeat('f', 64), ${userAt('i')}
         FROM generate_series(0, ${users - 1}) AS i`,
      )
      .execute(database.db)
    // Job j is user j/2's welcome (even) or admin notice (odd), finished 40 ms after its signup.
    await sql
      .raw(
        `INSERT INTO jobs_done (id, kind, owner_id, attempts, finished_at, age_ms, run_ms, result)
         SELECT ${v7(userAt('(j / 2)'), "'j' || j")},
                CASE WHEN j % 2 = 0 THEN '${welcome}' ELSE '${notice}' END,
                ${v7(userAt('(j / 2)'), "'u' || (j / 2)")}, 1, ${userAt('(j / 2)')} + 40, 40, 12,
                CASE WHEN j % 2 = 0 THEN '{"messageId":"<' || chr(31) || '@deckhand.local>","to":"p' || (j / 2) || '@prefill.test"}'
                     ELSE '{"messageId":"<' || chr(31) || '@deckhand.local>"}' END
         FROM generate_series(0, ${jobs - 1}) AS j`,
      )
      .execute(database.db)
    await sql`VACUUM ANALYZE`.execute(database.db)
    const { rows } = await sql<{ bytes: string }>`SELECT pg_database_size(current_database()) AS bytes`.execute(
      database.db,
    )
    return {
      jobs,
      users,
      databaseMiB: Number(rows[0]?.bytes) / 2 ** 20,
      buildSeconds: (performance.now() - started) / 1000,
    }
  } finally {
    await database.close()
  }
}
