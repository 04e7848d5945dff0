import { sql } from 'kysely'

/*
 * Fair kinds (src/jobs/fair-rank.ts) are claimed through jobs_fair_claim, which holds only queued rows with a rank
 * (migration 0007). Its condition is written out as a literal, as the index has it: a bound value would not tell
 * the planners (SQLite's nor PostgreSQL's generic plan) that the partial index covers the query.
 */
export const QUEUED_RANKED = sql<boolean>`status = 'queued' AND fair_rank IS NOT NULL`

/**
 * run_at as a claim in rank order compares it: `+run_at` keeps SQLite from reading jobs_claim_order's range of
 * due rows and sorting them (which it preferred, with no statistics to tell it otherwise) over walking
 * jobs_fair_claim in order and stopping at the limit.
 */
export const RUN_AT = sql<number>`+run_at`
