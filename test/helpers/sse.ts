import http from 'node:http'
import type { Test } from 'tap'

export interface SseEvent {
  id?: string
  event?: string
  data: unknown
}

export interface SseStream {
  status: number
  headers: http.IncomingHttpHeaders
  /** Every event so far, in order. */
  events: SseEvent[]
  /** Comment lines so far (the heartbeat). */
  comments: string[]
  /** Resolves once the server has ended the stream. */
  ended: Promise<void>
  /** The raw body of a non-stream answer (an error). */
  body(): Promise<string>
  /** Resolves once `n` events have come (or throws after `timeoutMs`). */
  waitForEvents(n: number, timeoutMs?: number): Promise<SseEvent[]>
  close(): void
}

/**
 * GET `url` as an event-stream client does, over real HTTP, parsing the frames as the WHATWG spec says (fields
 * `id`, `event`, `data`, comments starting with a colon, a blank line ending an event).
 */
export function openEventStream(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = []
      const comments: string[] = []
      const waiters: (() => void)[] = []
      let raw = ''
      let buffer = ''
      let current: { id?: string; event?: string; data: string[] } = { data: [] }
      res.setEncoding('utf8')
      const ended = new Promise<void>((done) => {
        res.once('end', done)
        res.once('close', done)
      })
      res.on('data', (chunk: string) => {
        raw += chunk
        buffer += chunk
        const lines = buffer.split('\n')
        buffer = lines.pop() ?? ''
        for (const line of lines) {
          if (line === '') {
            if (current.data.length > 0) {
              const text = current.data.join('\n')
              let data: unknown = text
              try {
                data = JSON.parse(text)
              } catch {}
              events.push({ id: current.id, event: current.event, data })
              for (const wake of waiters.splice(0)) wake()
            }
            current = { data: [] }
          } else if (line.startsWith(':')) {
            comments.push(line.slice(1).trim())
          } else {
            const at = line.indexOf(':')
            const field = at < 0 ? line : line.slice(0, at)
            const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '')
            if (field === 'id') current.id = value
            else if (field === 'event') current.event = value
            else if (field === 'data') current.data.push(value)
          }
        }
      })
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        comments,
        ended,
        async body() {
          await ended
          return raw
        },
        async waitForEvents(n, timeoutMs = 20_000) {
          const deadline = Date.now() + timeoutMs
          while (events.length < n) {
            const left = deadline - Date.now()
            if (left <= 0) throw new Error(`${events.length} events after ${timeoutMs} ms, expected ${n}`)
            let timer: NodeJS.Timeout | undefined
            await Promise.race([
              new Promise<void>((wake) => waiters.push(wake)),
              ended,
              new Promise((wake) => {
                timer = setTimeout(wake, left)
              }),
            ])
            clearTimeout(timer)
            if (events.length < n && res.readableEnded) {
              throw new Error(`stream ended after ${events.length} events, expected ${n}`)
            }
          }
          return events.slice(0, n)
        },
        close() {
          request.destroy()
        },
      })
    })
    request.on('error', reject)
  })
}

/** The states of a job in the order they may come; a stream must never go back. */
const ORDER = ['queued', 'running', 'running.resizing', 'running.publishing']
const rank = (id: string | undefined) =>
  id === 'succeeded' || id === 'failed' ? ORDER.length : ORDER.indexOf(id ?? '')

/** Checks a job's events: in lifecycle order, never back, named by status, one final event last. */
export function checkOrder(t: Test, events: SseEvent[], final: 'succeeded' | 'failed') {
  const ids = events.map((e) => e.id)
  t.same(
    events.map((e) => e.event),
    ids.map((id) => id?.split('.')[0]),
    'each event is named by its status',
  )
  for (let i = 1; i < ids.length; i++) t.ok(rank(ids[i]) > rank(ids[i - 1]), `${ids[i - 1]} before ${ids[i]}`)
  t.equal(ids.at(-1), final, `ends with ${final}`)
  t.equal(ids.filter((id) => id === final).length, 1, 'one final event')
}
