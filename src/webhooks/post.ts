import type { Agent } from 'node:http'
import http from 'node:http'
import https from 'node:https'

export interface PostOptions {
  headers: Record<string, string>
  body: string
  agent: Agent
  /** Shutdown: the request is given up. */
  signal: AbortSignal
  /** WEBHOOK_TIMEOUT_MS: resolving, connecting, sending and the answer's head, all of it. */
  timeoutMs: number
}

/** No answer's head within the time allowed: the connection was closed. */
export class PostTimeoutError extends Error {
  override name = 'PostTimeoutError'
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`)
  }
}

/**
 * POSTs `body` and resolves with the answer's status and headers as soon as they come, and closes the
 * connection then: the answer's body is never read (a receiver says what it has to say by its status), so a
 * receiver that sends one without end holds nothing. Whatever the receiver does before that (a slow accept,
 * a head sent a byte at a time), the connection is closed after `timeoutMs`. node:http follows no redirects,
 * which is what Standard Webhooks asks: a 3xx is the caller's to treat as a failure.
 */
export function post(
  url: string,
  options: PostOptions,
): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  const target = new URL(url)
  const request = target.protocol === 'https:' ? https.request : http.request
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
        agent: options.agent,
        signal: options.signal,
      },
      (res) => {
        clearTimeout(timer)
        // Destroying the request after its answer came drops the answer and closes the socket.
        res.on('error', () => {})
        req.destroy()
        resolve({ status: res.statusCode ?? 0, headers: res.headers })
      },
    )
    // The request's own timer, held by the request's closure: a timeout signal that nothing references once
    // its handler has returned may be collected and never fire (AbortSignal.any keeps only weak references).
    const timer = setTimeout(() => req.destroy(new PostTimeoutError(options.timeoutMs)), options.timeoutMs)
    req.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    req.end(options.body)
  })
}

/** Retry-After in ms: delay-seconds or an HTTP date (RFC 9110, 10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}
