import type { BenchOptions } from './phases.ts'
import { signupLoad } from './phases.ts'
import { type PostgresPrefill, prefillPostgres } from './prefill.ts'
import { scratchState } from './scratch.ts'
import { type BenchService, startService, startSignupLimit } from './service.ts'
import type { Recorder } from './timeline.ts'

type Load = Awaited<ReturnType<typeof signupLoad>>

export interface PostgresFrontDoor {
  /** The bare fastify + pg route (signup-limit.ts), before and after the two deckhands, and their mean. */
  bare: {
    requestsPerSecond: number
    requestsPerSecondBefore: number
    requestsPerSecondAfter: number
    latencyP99Ms: number
  }
  /** deckhand all in one process on the PostgreSQL journal. */
  journal: Load
  /** `deckhand api` alone on BullMQ + PostgreSQL: the front door of a scaled-out deployment. */
  api: Load
  /**
   * --prefill N: the journal's and the api's databases held N finished mails and their users before deckhand
   * started on them (the bare route's stayed empty); the fill (both are made alike: the api's is reported), and
   * each deckhand's start-up on its own.
   */
  prefill?: PostgresPrefill & { startupMs: { journal: number; api: number } }
}

interface Where {
  postgresUrl: string
  redisUrl: string
  /** Finished jobs each deckhand's database holds before it starts (--prefill); 0 or unset: empty. */
  prefillJobs?: number
}

type Timed = <T>(label: string, url: string, fn: (timeline: Recorder) => Promise<T>) => Promise<T>

/**
 * Phase 9: signups on PostgreSQL against their own limit, the bare route of signup-limit.ts on the same server
 * (measured right before and right after: the machine drifts). Each run has a fresh scratch database (and Redis
 * prefix), so none starts on another's rows. The `deckhand api` run has no worker: its jobs wait in BullMQ, as
 * they would behind a worker fleet busy elsewhere; the relay's share of the api is in what it measures.
 */
export async function postgresFrontDoorPhase(
  opts: BenchOptions,
  where: Where,
  timed: Timed,
): Promise<PostgresFrontDoor> {
  const prefillJobs = where.prefillJobs ?? 0
  let filled: PostgresPrefill | undefined
  const startupMs: number[] = []
  const on = async <T>(
    start: (env: Record<string, string>) => Promise<BenchService & { startupMs?: number }>,
    env: (db: string, prefix: string) => Record<string, string>,
    fn: (url: string) => Promise<T>,
    prefilled = false,
  ) => {
    const scratch = await scratchState(where.postgresUrl, where.redisUrl, 'bench')
    try {
      if (prefilled && prefillJobs > 0) filled = await prefillPostgres(scratch.databaseUrl, prefillJobs)
      const service = await start(env(scratch.databaseUrl, scratch.name))
      if (prefilled && service.startupMs !== undefined) startupMs.push(service.startupMs)
      try {
        return await fn(service.url)
      } finally {
        await service.stop()
      }
    } finally {
      await scratch.drop()
    }
  }
  const load = (label: string) => (url: string) =>
    timed(label, url, (tl) => signupLoad(url, opts, label, undefined, tl))
  const bareOnce = (label: string) => on(startSignupLimit, (db) => ({ DATABASE_URL: db }), load(label))
  const before = await bareOnce('9 limit: bare fastify + pg route')
  const journal = await on(startService, (db) => ({ DATABASE_URL: db }), load('9 signups, PostgreSQL journal'), true)
  const api = await on(
    (env) => startService(env, 'api'),
    (db, prefix) => ({ DATABASE_URL: db, QUEUE: 'bullmq', REDIS_URL: where.redisUrl, QUEUE_PREFIX: prefix }),
    load('9 signups, deckhand api on BullMQ + PostgreSQL'),
    true,
  )
  const after = await bareOnce('9 limit: bare fastify + pg route, again')
  return {
    bare: {
      requestsPerSecond: (before.requestsPerSecond + after.requestsPerSecond) / 2,
      requestsPerSecondBefore: before.requestsPerSecond,
      requestsPerSecondAfter: after.requestsPerSecond,
      latencyP99Ms: Math.max(before.latencyP99Ms, after.latencyP99Ms),
    },
    journal,
    api,
    prefill: filled && {
      ...filled,
      startupMs: { journal: startupMs[0] ?? Number.NaN, api: startupMs[1] ?? Number.NaN },
    },
  }
}
