import { PostgresAdapter, sql } from 'kysely'
import { compiledOnce } from '../db/compiled.ts'
import type { Database } from '../db/database.ts'
import type { ChangeFeed } from './change-feed.ts'
import { storedResult } from './job-rows.ts'
import type { Journal } from './types.ts'

/*
 * What the runner writes of a job it claimed: its stage, and how its attempt ended. The outcomes are hot statements,
 * built and compiled once (see compiledOnce): one for every job.
 */

const DONE_COLUMNS = ['id', 'kind', 'owner_id', 'attempts', 'finished_at', 'age_ms', 'run_ms', 'result'] as const

/**
 * The jobs_done row of a job at its success, selected from its jobs row (or the rows a DELETE returned). Typed:
 * PostgreSQL takes a bare parameter in a select list for text. values: result (stored), now.
 */
const doneRowOf = (value: (i: number) => never) =>
  [
    'id',
    'kind',
    'owner_id',
    'attempts',
    sql<number>`cast(${value(1)} as bigint)`.as('finished_at'),
    sql<number>`cast(${value(1)} as bigint) - created_at`.as('age_ms'),
    sql<number>`cast(${value(1)} as bigint) - started_at`.as('run_ms'),
    sql<string>`cast(${value(0)} as text)`.as('result'),
  ] as const

/**
 * A job's success: its row as jobs_done keeps it (migration 0010), and out of `jobs`. PostgreSQL in one statement
 * (a DELETE … RETURNING feeding the INSERT: one round trip, as the UPDATE it replaces); SQLite, which has no
 * writes in a WITH, in two, the row copied here, then deleteJob. values: result (stored), now, id.
 */
const succeedJob = compiledOnce((db, value) => {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    return db
      .with('moved', (w) =>
        w
          .deleteFrom('jobs')
          .where('id', '=', value(2))
          .returning(['id', 'kind', 'owner_id', 'attempts', 'created_at', 'started_at']),
      )
      .insertInto('jobs_done')
      .columns(DONE_COLUMNS)
      .expression((eb) => eb.selectFrom('moved').select(doneRowOf(value)))
  }
  return db
    .insertInto('jobs_done')
    .columns(DONE_COLUMNS)
    .expression((eb) => eb.selectFrom('jobs').select(doneRowOf(value)).where('id', '=', value(2)))
})
/** values: id. */
const deleteJob = compiledOnce((db, value) => db.deleteFrom('jobs').where('id', '=', value(0)))

/** values: error (JSON), when to run again, id. */
const retryJob = compiledOnce((db, value) =>
  db
    .updateTable('jobs')
    .set({ status: 'queued', last_error: value(0), run_at: value(1), stage: null, started_at: null })
    .where('id', '=', value(2)),
)

/** values: error (JSON), now, id. */
const failJob = compiledOnce((db, value) =>
  db
    .updateTable('jobs')
    .set({ status: 'failed', last_error: value(0), stage: null, finished_at: value(1) })
    .where('id', '=', value(2)),
)

/** A job's end as called off; values: error (JSON), now, id, the status it must be in (queued or running). */
export const cancelJob = compiledOnce((db, value) =>
  db
    .updateTable('jobs')
    .set({ status: 'cancelled', last_error: value(0), stage: null, finished_at: value(1) })
    .where('id', '=', value(2))
    .where('status', '=', value(3))
    .returningAll(),
)

type Outcomes = Pick<Journal, 'setStage' | 'succeed' | 'retry' | 'fail' | 'cancelled' | 'release' | 'requeueRunning'>

/**
 * The runner's writes. Outcomes go through database.record(): they commit with whatever else the turn writes, and do
 * not wait for durable() (lost to a power cut, they only mean a job runs again, as after any crash).
 */
export function journalOutcomes(database: Database, feed: ChangeFeed): Outcomes {
  const { db } = database
  return {
    async setStage(id, stage) {
      await db.updateTable('jobs').set({ stage }).where('id', '=', id).where('status', '=', 'running').execute()
      feed.changed(id, 'running', stage)
    },

    async succeed(id, result, now) {
      await database.record(async (tx) => {
        await succeedJob(tx, [storedResult(id, result), now, id])
        if (database.dialect === 'sqlite') await deleteJob(tx, [id])
      })
      feed.changed(id, 'succeeded')
      feed.settled(id)
    },

    async retry(id, error, runAt) {
      await database.record((tx) => retryJob(tx, [JSON.stringify(error), runAt, id]))
      feed.changed(id, 'queued')
    },

    async fail(id, error, now) {
      await database.record((tx) => failJob(tx, [JSON.stringify(error), now, id]))
      feed.changed(id, 'failed')
      feed.settled(id)
    },

    async cancelled(id, error, now) {
      await database.record((tx) => cancelJob(tx, [JSON.stringify(error), now, id, 'running']))
      feed.changed(id, 'cancelled')
      feed.settled(id)
    },

    async release(id) {
      await db
        .updateTable('jobs')
        .set({
          status: 'queued',
          attempts: sql<number>`CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END`,
          stage: null,
          started_at: null,
        })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .execute()
      feed.changed(id, 'queued')
    },

    async requeueRunning() {
      const result = await db
        .updateTable('jobs')
        .set({ status: 'queued', stage: null, started_at: null })
        .where('status', '=', 'running')
        .executeTakeFirst()
      return Number(result.numUpdatedRows)
    },
  }
}
