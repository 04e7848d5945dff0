import type { Agent } from 'node:http'
import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'

export interface PostOptions {
  headers: Record<string, string>
  body: string
  agent: Agent
  signal: AbortSignal
  lookup?: LookupFunction | undefined
}

/**
 * POSTs `body` and resolves with the answer's status and headers as soon as they come; the answer's body is
 * drained unread (a receiver says what it has to say by its status). node:http follows no redirects, which is
 * what Standard Webhooks asks: a 3xx is the caller's to treat as a failure.
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
        ...(options.lookup ? { lookup: options.lookup } : {}),
      },
      (res) => {
        res.resume()
        // The answer's status is all that counts: a receiver that cuts its body short changes nothing.
        res.on('error', () => {})
        resolve({ status: res.statusCode ?? 0, headers: res.headers })
      },
    )
    req.on('error', reject)
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
