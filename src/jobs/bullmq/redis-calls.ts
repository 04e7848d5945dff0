import type { Redis } from 'ioredis'
import { DependencyDown, dependencyFailure, withDeadline } from '../../dependencies.ts'

export type RedisCall = <T>(work: () => Promise<T>, deadlineMs?: number | undefined) => Promise<T>

/**
 * `work` against Redis: refused at once while the connection is down (BullMQ would otherwise wait for it to come
 * back, for ever), and as a whole bounded by `deadlineMs` (the store's timeoutMs unless given) while it is up. Its
 * connection failures leave as DependencyDown.
 */
export function redisCalls(redis: Redis, timeoutMs: number): RedisCall {
  return async function fromRedis<T>(work: () => Promise<T>, deadlineMs: number | undefined = timeoutMs): Promise<T> {
    if (redis.status !== 'ready') throw new DependencyDown('redis', 'unreachable')
    try {
      return await (deadlineMs === undefined ? work() : withDeadline('redis', deadlineMs, work()))
    } catch (err) {
      const failure = err instanceof DependencyDown ? undefined : dependencyFailure(err)
      throw failure ? new DependencyDown('redis', failure.reason, { cause: err }) : err
    }
  }
}
