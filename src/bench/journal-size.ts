import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import { type Database, openDatabase, transact } from '../db/database.ts'
import { rowId } from '../db/row-id.ts'
import { createDbJournal } from '../jobs/db-journal.ts'
import { scratchState } from './scratch.ts'

/*
 * What a finished job costs on disk: `npm run bench -- --journal-size N` fills a fresh journal with N finished
 * signup mails, through the journal's own statements (enqueue, claim, succeed), and reads each table and index of
 * `jobs` and `jobs_done` back, in bytes a job. SQLite through its dbstat table (pages in use, free space within
 * them included, as the file pays for them); PostgreSQL through pg_total_relation_size (the table with its TOAST)
 * and each index's pg_relation_size.
 */

export const SIGNUP_MAIL_KINDS = ['mail.welcome', 'mail.admin-notice'] as const

/** µs a job each step took, in the last tenth of a fill: into a journal that already holds the rest. */
export interface StepTimes {
  enqueue: number
  claim: number
  succeed: number
}

/**
 * Enqueues `signups` signups' two mails, then claims and succeeds them, as a run of phase 3 leaves them; answers
 * what each step cost once the journal held nine tenths of them.
 */
export async function fillFinishedMail(database: Database, signups: number, batch = 500): Promise<StepTimes> {
  const journal = createDbJournal(database)
  const domain = 'deckhand.local'
  const spent = { enqueue: 0, claim: 0, succeed: 0 }
  let timedJobs = 0
  for (let done = 0; done < signups; done += batch) {
    const n = Math.min(batch, signups - done)
    const timed = done >= signups * 0.9
    let at = performance.now()
    const lap = (step: keyof StepTimes) => {
      const now = performance.now()
      if (timed) spent[step] += now - at
      at = now
    }
    await transact(database, (tx) =>
      journal.enqueue(
        tx,
        Array.from({ length: n }, (_, i) => {
          const userId = rowId()
          const facts = { userId, email: `u1-${done + i}@bench.test`, name: null }
          return SIGNUP_MAIL_KINDS.map((kind) => ({ kind, ownerId: userId, payload: facts }))
        }).flat(),
      ),
    )
    lap('enqueue')
    const now = Date.now()
    const claimed = await journal.claim(SIGNUP_MAIL_KINDS, 2 * n, now)
    lap('claim')
    await Promise.all(
      claimed.map((job) => {
        const messageId = `<${job.id}@${domain}>`
        const to = (job.payload as { email: string }).email
        return journal.succeed(job.id, job.kind === 'mail.welcome' ? { messageId, to } : { messageId }, now)
      }),
    )
    lap('succeed')
    if (timed) timedJobs += 2 * n
  }
  const us = (ms: number) => (timedJobs === 0 ? 0 : Math.round((ms * 1000) / timedJobs))
  return { enqueue: us(spent.enqueue), claim: us(spent.claim), succeed: us(spent.succeed) }
}

export interface JournalSize {
  jobs: number
  /** Bytes of each table and index of `jobs` and `jobs_done` (migration 0010), by name. */
  bytes: Record<string, number>
  total: number
}

/** The jobs table's and its indexes' bytes as the database reports them. */
export async function journalSize(database: Database): Promise<JournalSize> {
  const { db } = database
  const count = async (table: 'jobs' | 'jobs_done') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    )
  const jobs = (await count('jobs')) + (await count('jobs_done'))
  let rows: { name: string; bytes: number }[]
  if (database.dialect === 'sqlite') {
    rows = (
      await sql<{ name: string; bytes: number }>`SELECT name, sum(pgsize) AS bytes FROM dbstat
        WHERE name IN (SELECT name FROM sqlite_schema WHERE tbl_name IN ('jobs', 'jobs_done') AND type IN ('table', 'index'))
        GROUP BY name`.execute(db)
    ).rows
  } else {
    rows = (
      await sql<{ name: string; bytes: number }>`SELECT relname AS name,
          pg_total_relation_size(oid) - pg_indexes_size(oid) AS bytes
          FROM pg_class WHERE relname IN ('jobs', 'jobs_done') AND relkind = 'r'
        UNION ALL SELECT indexrelid::regclass::text, pg_relation_size(indexrelid)
          FROM pg_index WHERE indrelid IN ('jobs'::regclass, 'jobs_done'::regclass)`.execute(db)
    ).rows
  }
  const bytes = Object.fromEntries(rows.map((r) => [r.name, Number(r.bytes)]))
  return { jobs, bytes, total: Object.values(bytes).reduce((a, b) => a + b, 0) }
}

/** One line a table or index: bytes a job, largest first, and the total. */
export function journalSizeLines(size: JournalSize): string[] {
  const perJob = (b: number) => (size.jobs === 0 ? 0 : b / size.jobs).toFixed(1)
  return [
    ...Object.entries(size.bytes)
      .sort((a, b) => b[1] - a[1])
      .map(([name, b]) => `${name.padEnd(28)} ${perJob(b).padStart(8)} bytes a job`),
    `${'total'.padEnd(28)} ${perJob(size.total).padStart(8)} bytes a job (${size.jobs} jobs)`,
  ]
}

/**
 * `--journal-size N`: N signups' mails, finished, in a fresh SQLite journal and, with `postgresUrl`, a fresh
 * PostgreSQL database (VACUUM ANALYZE first, so its sizes are settled); each one's breakdown, then removed.
 */
export async function journalSizeRun(
  signups: number,
  postgresUrl: string | undefined,
  redisUrl: string,
  say: (line: string) => void,
): Promise<Record<string, JournalSize>> {
  const out: Record<string, JournalSize> = {}
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-journal-size-'))
  const scratch = postgresUrl ? await scratchState(postgresUrl, redisUrl, 'size') : undefined
  try {
    for (const [name, url] of [['sqlite', undefined], ...(scratch ? [['postgres', scratch.databaseUrl]] : [])]) {
      const database = await openDatabase({
        url,
        sqliteFile: path.join(dir, 'deckhand.db'),
        synchronous: 'NORMAL',
        poolSize: 2,
        watchErrors: () => {},
        timeoutMs: 10_000,
      })
      try {
        const started = performance.now()
        const times = await fillFinishedMail(database, signups)
        if (url) await sql`VACUUM ANALYZE`.execute(database.db)
        const size = await journalSize(database)
        say(`${name}: ${size.jobs} finished mail jobs in ${((performance.now() - started) / 1000).toFixed(0)} s`)
        say(`  the last tenth, µs a job: enqueue ${times.enqueue}, claim ${times.claim}, succeed ${times.succeed}`)
        for (const line of journalSizeLines(size)) say(`  ${line}`)
        out[name as string] = size
      } finally {
        await database.close()
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    await scratch?.drop()
  }
  return out
}
