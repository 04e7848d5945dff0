/*
 * Redis, PostgreSQL and the object storage bucket as outside dependencies: telling a failure of the connection (refused, cut, timed out)
 * from an error of the request, so that the first becomes a 503 DEPENDENCY_UNAVAILABLE and not a 500.
 */

export type Dependency = 'database' | 'redis' | 'storage'

/** How clients and operators see each dependency named. */
export const dependencyNames: Record<Dependency, string> = {
  database: 'PostgreSQL (the database)',
  redis: 'Redis (the job queue)',
  storage: 'object storage (the bucket of uploads and avatars)',
}

/** A call that failed because its dependency cannot be reached now; thrown where the dependency is known. */
export class DependencyDown extends Error {
  override name = 'DependencyDown'
  constructor(
    readonly dependency: Dependency,
    /** Short and free of hosts and ports: `unreachable`, `ECONNREFUSED`, `no answer within 1500 ms`. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${dependency}: ${reason}`, options)
  }
}

/**
 * A connection that could not be made. Only `connect` and name lookups count: a client's own socket cut off
 * mid-upload carries ECONNRESET too, and is no dependency's fault.
 */
const connectSyscalls = new Set(['connect', 'getaddrinfo'])
const socketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
])

/**
 * PostgreSQL's own codes for a server that cannot serve now: connection exceptions (class 08), shutting down
 * or starting up (57P01-57P03), out of connections (53300), and statement_timeout (57014).
 */
const postgresCodes = /^(08...|57P0[123]|53300|57014)$/

/** What node-postgres and pg-pool say when a connection cannot be had or is lost mid-query, and what it means. */
const postgresMessages: [RegExp, string][] = [
  [/^Connection terminated due to connection timeout/, 'no connection in time'],
  [/^timeout exceeded when trying to connect/, 'no connection in time'],
  [/^Query read timeout/, 'no answer in time'],
  [/^Connection terminated/, 'connection lost'],
  [/^Client has encountered a connection error/, 'connection lost'],
]

/** What ioredis and BullMQ say when a command cannot reach Redis. */
const redisMessages: [RegExp, string][] = [
  [/^Command timed out/, 'no answer in time'],
  [/^Connection is closed/, 'connection lost'],
  [/^Stream isn't writeable/, 'unreachable'],
  [/^Reached the max retries per request limit/, 'unreachable'],
]

const matching = (messages: [RegExp, string][], text: string) => messages.find(([m]) => m.test(text))?.[1]

const codeOf = (err: { code?: unknown }) => (typeof err.code === 'string' ? err.code : undefined)

/**
 * The dependency whose connection failed, and why in a few words, if `err` is such a failure. Redis calls are
 * tagged where they are made (the BullMQ store throws DependencyDown); anything else that reached a socket
 * from a request is PostgreSQL's, the only other server a request talks to.
 */
export function dependencyFailure(err: unknown): { dependency: Dependency; reason: string } | undefined {
  if (err instanceof DependencyDown) return { dependency: err.dependency, reason: err.reason }
  if (typeof err !== 'object' || err === null) return undefined
  const code = codeOf(err)
  const message = (err as { message?: unknown }).message
  const text = typeof message === 'string' ? message : ''
  const redis = matching(redisMessages, text)
  if (redis) return { dependency: 'redis', reason: redis }
  const syscall = (err as { syscall?: unknown }).syscall
  if (code && socketCodes.has(code) && typeof syscall === 'string' && connectSyscalls.has(syscall)) {
    return { dependency: 'database', reason: code }
  }
  if (code && postgresCodes.test(code)) return { dependency: 'database', reason: `PostgreSQL ${code}` }
  const postgres = matching(postgresMessages, text)
  if (postgres) return { dependency: 'database', reason: postgres }
  // pg-pool reports a refused connection as an AggregateError when localhost resolves to two addresses.
  if (err instanceof AggregateError) return err.errors.map(dependencyFailure).find((f) => f !== undefined)
  return undefined
}

/**
 * `work`, or DependencyDown once `ms` have passed without an answer. The work itself goes on (a command
 * already sent cannot be called back), but the caller answers in bounded time.
 */
export async function withDeadline<T>(dependency: Dependency, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DependencyDown(dependency, `no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}
