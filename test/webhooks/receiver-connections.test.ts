import net from 'node:net'
import t from 'tap'
import { JobFailure } from '../../src/errors.ts'
import { waitFor } from '../helpers/wait.ts'
import { attempt } from '../helpers/webhook-attempt.ts'

/*
 * What a receiver can do to a delivery's connection: a real TCP server on loopback that answers a byte stream
 * of its own making (WEBHOOK_ALLOW_PRIVATE for loopback), and sees when deckhand closes the connection.
 */

interface Trickler {
  url: string
  /** Connections deckhand opened that are still open, as the receiver sees them. */
  open: Set<net.Socket>
  /** When each connection was closed. */
  closedAt: number[]
}

/**
 * A receiver that, once the request's head has come, sends `first` and then `next` every 100 ms without end
 * until the connection is closed.
 */
async function startTrickler(
  t: { teardown(fn: () => unknown): void },
  first: string,
  next: () => Buffer | string,
): Promise<Trickler> {
  const open = new Set<net.Socket>()
  const closedAt: number[] = []
  const server = net.createServer((socket) => {
    open.add(socket)
    let head = ''
    let timer: NodeJS.Timeout | undefined
    socket.on('data', (chunk) => {
      if (timer) return
      head += chunk.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      socket.write(first)
      timer = setInterval(() => socket.write(next()), 100)
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearInterval(timer)
      open.delete(socket)
      closedAt.push(Date.now())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of open) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`, open, closedAt }
}

const chunk = Buffer.alloc(64 * 1024, 'x')
const chunked = () => Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])

t.test('a 200 with a body that never ends: delivered, and the connection closed at once', async (t) => {
  const receiver = await startTrickler(t, 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n', chunked)
  const { result, outcomes } = await attempt(receiver.url, { allowPrivate: true, timeoutMs: 30_000 })
  const answeredAt = Date.now()
  t.same(result, { delivered: true, status: 200 })
  t.same(outcomes, ['delivered'])
  // Far within WEBHOOK_TIMEOUT_MS (30 s): the status was all deckhand wanted.
  await waitFor('the receiver to see its connection closed', () => receiver.closedAt.length === 1, 5000)
  t.ok((receiver.closedAt[0] ?? 0) - answeredAt < 5000, 'closed once the status was read')
  t.equal(receiver.open.size, 0, 'no connection left open to the receiver')
})

t.test('a head sent a line every 100 ms without end: WEBHOOK_TIMEOUT_MS, then closed, retried', async (t) => {
  const receiver = await startTrickler(t, 'HTTP/1.1 200 OK\r\n', () => 'x-trickle: 1\r\n')
  const started = Date.now()
  const { err, outcomes } = await attempt(receiver.url, { allowPrivate: true, timeoutMs: 1000 })
  const took = Date.now() - started
  t.ok(err instanceof JobFailure)
  t.equal((err as JobFailure).code, 'WEBHOOK_ERROR')
  t.equal((err as JobFailure).retryable, true, 'retried')
  t.match((err as JobFailure).message, /no answer within 1000 ms/)
  t.same(outcomes, ['error'])
  t.ok(took >= 950 && took < 10_000, `failed at the timeout: ${took} ms`)
  await waitFor('the receiver to see its connection closed', () => receiver.closedAt.length === 1, 5000)
  t.equal(receiver.open.size, 0, 'no connection left open to the receiver')
})
