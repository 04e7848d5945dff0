import http from 'node:http'

import { type SignedUp, signup } from './app.ts'

/**
 * `loops` clients signing users up back to back until `stop()`, or until the server goes away. Only answers
 * that arrived count as acknowledged.
 */
export function signupLoad(url: string, prefix: string, loops: number) {
  const acked: SignedUp[] = []
  let stopped = false
  let n = 0
  const loop = async () => {
    while (!stopped) {
      try {
        acked.push(await signup(url, `${prefix}${n++}@example.com`))
      } catch (err) {
        if (err instanceof TypeError) return // fetch failed: the server is gone, nothing more is acknowledged
      }
    }
  }
  const running = Promise.all(Array.from({ length: loops }, loop))
  return {
    acked,
    async stop() {
      stopped = true
      await running
    },
  }
}

/**
 * PUT /users/:id/avatar over real HTTP, the body sent in `chunks` with `delayMs` between them; `onChunk` hears
 * how many went out. Resolves with whatever the server answered.
 */
export function chunkedUpload(
  url: string,
  user: { id: string; token: string },
  chunks: Buffer[],
  options: { delayMs?: number; contentLength?: number; onChunk?: (sent: number) => void } = {},
) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const headers: Record<string, string | number> = {
      authorization: `Bearer ${user.token}`,
      'content-type': 'image/jpeg',
    }
    if (options.contentLength !== undefined) headers['content-length'] = options.contentLength
    const req = http.request(`${url}/users/${user.id}/avatar`, { method: 'PUT', headers }, (res) => {
      let body = ''
      res.on('data', (c) => {
        body += c
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    let sent = 0
    const next = () => {
      if (sent === chunks.length) return req.end()
      const ok = req.write(chunks[sent])
      sent++ // not inside the optional call below: `f?.(++x)` skips the increment when f is absent
      options.onChunk?.(sent)
      if (options.delayMs) setTimeout(next, options.delayMs)
      else if (ok) next()
      else req.once('drain', next)
    }
    next()
  })
}

/** `bytes` cut into `n` nearly equal pieces. */
export const split = (bytes: Buffer, n: number) =>
  Array.from({ length: n }, (_, i) =>
    bytes.subarray(Math.floor((i * bytes.length) / n), Math.floor(((i + 1) * bytes.length) / n)),
  )
