import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'

export type Db = Database.Database

/*
 * Schema versions, applied in order and recorded in PRAGMA user_version. Append, never edit: a journal on
 * a user's disk may be at any earlier version.
 */
const migrations: string[] = [
  `CREATE TABLE users (
     id          TEXT PRIMARY KEY,
     email       TEXT NOT NULL,
     email_key   TEXT NOT NULL UNIQUE,  -- lower-cased: addresses compare case-insensitively
     name        TEXT,
     token_hash  BLOB NOT NULL,
     created_at  INTEGER NOT NULL
   );
   CREATE TABLE jobs (
     id           TEXT PRIMARY KEY,
     kind         TEXT NOT NULL,
     owner_id     TEXT NOT NULL,
     payload      TEXT NOT NULL,
     status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
     attempts     INTEGER NOT NULL DEFAULT 0,
     run_at       INTEGER NOT NULL,
     stage        TEXT,
     last_error   TEXT,
     result       TEXT,
     created_at   INTEGER NOT NULL,
     started_at   INTEGER,
     finished_at  INTEGER
   );
   CREATE INDEX jobs_due ON jobs (status, kind, run_at);
   CREATE INDEX jobs_owner ON jobs (owner_id);`,
  `ALTER TABLE users ADD COLUMN avatar_seq INTEGER NOT NULL DEFAULT 0;  -- counts accepted uploads
   CREATE TABLE avatars (
     user_id         TEXT PRIMARY KEY REFERENCES users (id),
     version         TEXT NOT NULL,     -- id of the job that made it; names its folder
     seq             INTEGER NOT NULL,  -- the upload's avatar_seq: a later upload always wins
     placeholder     TEXT NOT NULL,
     dominant_color  TEXT NOT NULL,
     variants        TEXT NOT NULL,
     updated_at      INTEGER NOT NULL
   );`,
]

export interface OpenOptions {
  synchronous: 'FULL' | 'NORMAL'
}

/** Opens (creating if needed) the SQLite file that holds users and the job journal, migrated to the latest schema. */
export function openDatabase(file: string, options: OpenOptions): Db {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const db = new Database(file)
  // WAL lets readers (GET /jobs) run while the dispatcher writes; busy_timeout covers a second process
  // (a backup, the sqlite3 shell) holding the lock for a moment.
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${options.synchronous}`)
  db.pragma('busy_timeout = 5000')
  db.pragma('foreign_keys = ON')
  migrate(db)
  return db
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > migrations.length) {
    throw new Error(`database schema version ${current} is newer than this build knows (${migrations.length})`)
  }
  db.transaction(() => {
    for (let v = current; v < migrations.length; v++) {
      db.exec(migrations[v] as string)
      db.pragma(`user_version = ${v + 1}`)
    }
  })()
}
