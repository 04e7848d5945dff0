import type { Redis } from 'ioredis'
import { DependencyDown, dependencyFailure, withDeadline } from '../../dependencies.ts'

/** Work against Redis, refused at once while the connection is down, its connection failures as DependencyDown. */
export type RedisCall = <T>(work: () => Promise<T>) => Promise<T>

export interface RedisCalls {
  /** A request's work: bounded as a whole by the store's timeoutMs, so the request answers in bounded time. */
  bounded: RedisCall
  /**
   * A sweep's work over many jobs (a listing of every job of a kind, a clean): each command keeps the connection's
   * own limit (commandTimeout), but the whole is not bounded, or a large backlog would make the sweep fail every time.
   */
  sweep: RedisCall
}

/**
 * Calls to Redis through `redis`, whose commands already time out after `timeoutMs` each. Refused at once while
 * the connection is down: BullMQ would otherwise wait for it to come back, for ever.
 */
export function redisCalls(redis: Redis, timeoutMs: number): RedisCalls {
  const call = async <T>(work: () => Promise<T>, deadlineMs: number | undefined): Promise<T> => {
    if (redis.status !== 'ready') throw new DependencyDown('redis', 'unreachable')
    try {
      return await (deadlineMs === undefined ? work() : withDeadline('redis', deadlineMs, work()))
    } catch (err) {
      const failure = err instanceof DependencyDown ? undefined : dependencyFailure(err)
      throw failure ? new DependencyDown('redis', failure.reason, { cause: err }) : err
    }
  }
  return {
    bounded: (work) => call(work, timeoutMs),
    sweep: (work) => call(work, undefined),
  }
}
