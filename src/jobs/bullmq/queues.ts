import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { withDeadline } from '../../dependencies.ts'
import type { WatchErrors } from '../../error-events.ts'
import { type RedisCalls, redisCalls } from './redis-calls.ts'

export interface QueuesOptions {
  redisUrl: string
  prefix: string
  kinds: readonly string[]
  maxAttempts: number
  /** Succeeded jobs are removed this long after they finished; 0 keeps them (JOB_RETENTION_MS). */
  keepSucceededMs: number
  /** Failed jobs likewise (FAILED_JOB_RETENTION_MS). */
  keepFailedMs: number
  /** Longest one call to Redis may take before it fails as DependencyDown (DEPENDENCY_TIMEOUT_MS). */
  timeoutMs: number
  log: Logger
  /** Listens for 'error' on each queue and event stream (their ioredis connections report there). */
  watchErrors: WatchErrors
}

/** One BullMQ queue per job kind, over one connection to Redis that serves requests. */
export interface BullQueues {
  redis: Redis
  queues: ReadonlyMap<string, Queue>
  /** The queue of a kind this process knows; throws for any other. */
  queueOf(kind: string): Queue
  /** Calls to Redis through the connection: bounded for requests, per command for sweeps. */
  calls: RedisCalls
  /** See BullStore.connected. */
  connected(ms: number): Promise<boolean>
  /** Closes the queues and `others` (the event streams), each within timeoutMs, then the connection. */
  close(others: readonly { close(): Promise<void> }[]): Promise<void>
}

/** BullMQ's removeOnComplete / removeOnFail for a retention in ms; 0 keeps jobs. */
const keepFor = (ms: number) => (ms > 0 ? { age: Math.max(1, Math.round(ms / 1000)) } : false)

export function openQueues(options: QueuesOptions): BullQueues {
  // The queues' one connection serves requests, so it fails instead of waiting: no offline queue (a command
  // while Redis is away is refused at once, where ioredis would hold it through 20 reconnects), and time limits
  // on connecting and on every command (a hung Redis). Workers and the event stream keep their own blocking
  // connections, which BullMQ needs to wait for ever (maxRetriesPerRequest null).
  const redis = new Redis(options.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: options.timeoutMs,
    commandTimeout: options.timeoutMs,
  })
  const queues = new Map(
    options.kinds.map((kind) => [
      kind,
      new Queue(kind, {
        connection: redis,
        prefix: options.prefix,
        defaultJobOptions: {
          attempts: options.maxAttempts,
          backoff: { type: 'deckhand' },
          // BullMQ removes these only when another job of the queue finishes; an idle queue is emptied by
          // deleteFinished() on the retention sweep's timer.
          removeOnComplete: keepFor(options.keepSucceededMs),
          removeOnFail: keepFor(options.keepFailedMs),
        },
      }),
    ]),
  )
  for (const [kind, queue] of queues) options.watchErrors(queue, 'redis', { kind, client: 'queue' })

  return {
    redis,
    queues,
    queueOf(kind) {
      const queue = queues.get(kind)
      if (!queue) throw new Error(`no queue for job kind "${kind}"`)
      return queue
    },
    calls: redisCalls(redis, options.timeoutMs),

    async connected(ms) {
      if (redis.status === 'ready') return true
      // Not events.once(): it rejects on the first 'error', and a refused connection is an answer here too.
      let settle: (ready: boolean) => void = () => {}
      const timer = setTimeout(() => settle(false), ms)
      const onReady = () => settle(true)
      redis.once('ready', onReady)
      const ready = await new Promise<boolean>((resolve) => {
        settle = resolve
      })
      clearTimeout(timer)
      redis.off('ready', onReady)
      return ready
    },

    async close(others) {
      // A connection that Redis dropped and that waits to reconnect never reports its end when closed (ioredis
      // emits no 'end' for it, and BullMQ waits for one), so each close gets timeoutMs and is then left behind:
      // its reconnect timer is cancelled by then, so nothing of it keeps the process alive.
      await Promise.all(
        [...queues.values(), ...others].map((q) =>
          withDeadline('redis', options.timeoutMs, q.close()).catch((err) =>
            options.log.warn({ err }, 'a Redis connection did not close in time; left behind'),
          ),
        ),
      )
      // Shared by the queues, so none of them closes it.
      redis.disconnect()
    },
  }
}
