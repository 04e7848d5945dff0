import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import { openDatabase } from '../db/database.ts'
import { rowId } from '../db/row-id.ts'
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
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('synchronous = OFF')
  const insertUser = sqlite.prepare(
    'INSERT INTO users (id, email, email_key, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  )
  const insertDone = sqlite.prepare(
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
  sqlite.pragma('wal_checkpoint(TRUNCATE)')
  sqlite.close()
  const fileMiB = fs.statSync(file).size / 2 ** 20
  const buildSeconds = (performance.now() - started) / 1000
  say(
    `prefill: ${jobs} finished mail jobs and ${users} users, ${fileMiB.toFixed(0)} MiB, in ${buildSeconds.toFixed(0)} s`,
  )
  return { file, jobs, users, fileMiB, buildSeconds, remove: () => fs.rmSync(dir, { recursive: true, force: true }) }
}
