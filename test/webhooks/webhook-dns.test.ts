import dns from 'node:dns'
import fs from 'node:fs'
import t from 'tap'
import { JobFailure } from '../../src/errors.ts'
import { startDnsServer } from '../helpers/dns-server.ts'
import { attempt } from '../helpers/webhook-attempt.ts'
import { startReceiver } from '../helpers/webhook-receiver.ts'

/*
 * Webhook hosts are resolved with c-ares (resolve-host.ts), against a DNS server of the test's own on a loopback
 * UDP port: what it answers, and how slowly, is the test's to choose.
 */

t.test('a name is resolved by asking DNS for A and AAAA; every address is checked', async (t) => {
  const receiver = await startReceiver(t)
  const port = new URL(receiver.url).port
  const server = await startDnsServer(t)
  server.records.set('hooks.test', ['127.0.0.1'])
  server.records.set('mixed.test', ['93.184.215.14', '::7f00:1'])
  const dnsServers = [server.address]
  const reached = await attempt(`http://hooks.test:${port}/x`, { allowPrivate: true, dnsServers })
  t.same(reached.result, { delivered: true, status: 200 }, 'WEBHOOK_ALLOW_PRIVATE: delivered to the address DNS gave')
  t.same(
    server.questions
      .filter((q) => q.name === 'hooks.test')
      .map((q) => q.type)
      .sort(),
    ['A', 'AAAA'],
    'the test DNS server was asked, for both families',
  )
  const refused = await attempt(`http://hooks.test:${port}/x`, { dnsServers })
  t.equal((refused.err as JobFailure).code, 'WEBHOOK_TARGET_REFUSED', 'by default, loopback from DNS is refused')
  const mixed = await attempt(`http://mixed.test:${port}/x`, { dnsServers })
  t.equal(
    (mixed.err as JobFailure).code,
    'WEBHOOK_TARGET_REFUSED',
    'a public A beside an IPv4-compatible AAAA: refused, since either may be connected to',
  )
  t.equal(receiver.deliveries.length, 1, 'only the allowed delivery reached the receiver')
})

t.test('WEBHOOK_ALLOW_PRIVATE: a name DNS does not know (localhost) is looked up by the system', async (t) => {
  const receiver = await startReceiver(t)
  const server = await startDnsServer(t)
  const url = `http://localhost:${new URL(receiver.url).port}/x`
  const { result } = await attempt(url, { allowPrivate: true, dnsServers: [server.address] })
  t.same(result, { delivered: true, status: 200 })
  t.ok(
    server.questions.some((q) => q.name === 'localhost'),
    'DNS was asked first',
  )
})

t.test(
  'a DNS server that never answers: a retryable WEBHOOK_ERROR at WEBHOOK_TIMEOUT_MS, the thread pool free',
  async (t) => {
    const server = await startDnsServer(t)
    server.answering = false
    const started = Date.now()
    // More at once than libuv's pool has threads (4), as WEBHOOK_CONCURRENCY allows.
    const attempts = Array.from({ length: 8 }, (_, i) =>
      attempt(`http://hook${i}.slow.test/x`, { dnsServers: [server.address], timeoutMs: 1500 }).then((a) => ({
        ...a,
        at: Date.now(),
      })),
    )
    await new Promise((resolve) => setTimeout(resolve, 200))
    // Work that runs on libuv's thread pool: the system's lookup (getaddrinfo: /etc/hosts) and a file's stat.
    await Promise.all([dns.promises.lookup('localhost'), fs.promises.stat(import.meta.filename)])
    const poolDoneAt = Date.now()
    const settled = await Promise.all(attempts)
    t.ok(server.questions.length >= 8, `the silent DNS server was asked (${server.questions.length} questions)`)
    for (const { err, outcomes, at } of settled) {
      t.ok(err instanceof JobFailure)
      t.equal((err as JobFailure).code, 'WEBHOOK_ERROR')
      t.equal((err as JobFailure).retryable, true, 'retried')
      t.match((err as JobFailure).message, /no answer within 1500 ms|ETIMEOUT/)
      t.same(outcomes, ['error'])
      t.ok(at - started >= 1400 && at - started < 10_000, `failed at the timeout: ${at - started} ms`)
    }
    const firstFailure = Math.min(...settled.map((a) => a.at))
    t.ok(poolDoneAt < firstFailure, `the thread pool's work did not wait for DNS (${poolDoneAt - started} ms)`)
  },
)
