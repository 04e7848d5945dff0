import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'

export interface Delivery {
  path: string
  headers: http.IncomingHttpHeaders
  body: string
  at: number
  /** A delivery left hanging: when the sender closed the connection (this receiver never does, but on close()). */
  closedAt?: number
  /** What standardwebhooks' verify() said with the receiver's secret: the parsed body, or the error's message. */
  verified:
    | { ok: true; payload: { type: string; timestamp: string; data: Record<string, unknown> } }
    | { ok: false; error: string }
}

/** What the receiver answers a request with: a status and headers; `hang` never answers. */
export type Answer = { status: number; headers?: Record<string, string> } | 'hang'

export interface Receiver {
  url: string
  deliveries: Delivery[]
  /** The secret deliveries are verified with (the one PUT answered). */
  secret: string | undefined
  /** Answers to give, in order; once used up, every request gets 200. */
  answers: Answer[]
  waitFor(n: number, timeoutMs?: number): Promise<Delivery[]>
  close(): Promise<void>
}

/**
 * A webhook receiver on a loopback port, as a user would write one: it checks each delivery's signature with
 * the `standardwebhooks` package and answers as the test scripts it.
 */
export async function startReceiver(t: { teardown(fn: () => unknown): void }): Promise<Receiver> {
  const deliveries: Delivery[] = []
  const waiters: (() => void)[] = []
  const hanging = new Set<http.ServerResponse>()
  const receiver: Receiver = {
    url: '',
    deliveries,
    secret: undefined,
    answers: [],
    async waitFor(n, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      while (deliveries.length < n) {
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`${deliveries.length} deliveries after ${timeoutMs} ms, expected ${n}`)
        let timer: NodeJS.Timeout | undefined
        await Promise.race([
          new Promise<void>((wake) => waiters.push(wake)),
          new Promise((wake) => {
            timer = setTimeout(wake, left)
          }),
        ])
        clearTimeout(timer)
      }
      return deliveries.slice(0, n)
    },
    async close() {
      for (const res of hanging) res.destroy()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
  const server = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c) => {
      body += c
    })
    req.on('end', () => {
      let verified: Delivery['verified']
      try {
        const payload = new Webhook(receiver.secret ?? '').verify(body, req.headers as Record<string, string>)
        verified = { ok: true, payload: payload as never }
      } catch (err) {
        verified = { ok: false, error: (err as Error).message }
      }
      const delivery: Delivery = { path: req.url ?? '', headers: req.headers, body, at: Date.now(), verified }
      deliveries.push(delivery)
      for (const wake of waiters.splice(0)) wake()
      const answer = receiver.answers.shift() ?? { status: 200 }
      if (answer === 'hang') {
        hanging.add(res)
        res.once('close', () => {
          delivery.closedAt = Date.now()
        })
        return
      }
      res.writeHead(answer.status, answer.headers ?? {}).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.teardown(() => receiver.close())
  return receiver
}
