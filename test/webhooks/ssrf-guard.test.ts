import diagnostics from 'node:diagnostics_channel'
import dns from 'node:dns'
import type { LookupFunction, Socket } from 'node:net'
import t from 'tap'
import { metricValue } from '../../src/bench/stats.ts'
import { JobFailure } from '../../src/errors.ts'
import { guardedAgents, TargetRefusedError } from '../../src/webhooks/guard.ts'
import { post } from '../../src/webhooks/post.ts'
import { checkWebhookUrl } from '../../src/webhooks/url-policy.ts'
import { signup, startApp, uploadRaw, waitForJob } from '../helpers/app.ts'
import { waitFor } from '../helpers/wait.ts'
import { attempt, resolvingTo } from '../helpers/webhook-attempt.ts'
import { startReceiver } from '../helpers/webhook-receiver.ts'

/*
 * The SSRF guard at delivery time: the host is resolved when the delivery is made and the address checked
 * before connecting (guard.ts, by the rule of address-policy.ts). A public-looking name is pointed at each
 * forbidden address by a resolver of the test's own, and the real receiver on loopback shows whether anything
 * reached it.
 */

t.test('a host name pointing at a forbidden address is refused before connecting', async (t) => {
  const receiver = await startReceiver(t)
  const port = new URL(receiver.url).port
  const forbidden = [
    '127.0.0.1',
    '::1',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.0.10',
    '169.254.169.254',
    '100.64.0.1',
    '224.0.0.251',
    '0.0.0.0',
    '::ffff:127.0.0.1',
    'fd00::1',
    'fe80::1',
    // IPv4-compatible (::/96) forms of 127.0.0.1 and 169.254.169.254, which ipaddr.js calls unicast.
    '::7f00:1',
    '::a9fe:a9fe',
    '::ffff:169.254.169.254',
    // NAT64 of 10.0.0.1; 6to4 of 127.0.0.1; Teredo.
    '64:ff9b::a00:1',
    '2002:7f00:1::1',
    '2001:0:4136:e378:8000:63bf:3fff:fdd2',
  ]
  for (const address of forbidden) {
    const { err, outcomes } = await attempt(`http://hooks.example.com:${port}/x`, { lookup: resolvingTo(address) })
    t.ok(err instanceof JobFailure, `${address}: the attempt failed`)
    t.equal((err as JobFailure).code, 'WEBHOOK_TARGET_REFUSED', `${address}: WEBHOOK_TARGET_REFUSED`)
    t.equal((err as JobFailure).retryable, false, `${address}: not retried`)
    t.same(outcomes, ['refused'])
  }
  t.equal(receiver.deliveries.length, 0, 'nothing reached the receiver')

  // The same name, the same resolver, with WEBHOOK_ALLOW_PRIVATE: it does reach the receiver, so the refusals
  // above were the guard's and not a resolver that did not work.
  const { result, outcomes } = await attempt(`http://hooks.example.com:${port}/x`, {
    lookup: resolvingTo('127.0.0.1'),
    allowPrivate: true,
  })
  t.same(result, { delivered: true, status: 200 })
  t.same(outcomes, ['delivered'])
  t.equal(receiver.deliveries.length, 1)
})

t.test('by default, a stored loopback URL is refused at delivery: the job fails, nothing is sent', async (t) => {
  const receiver = await startReceiver(t)
  // http allowed (the receiver has no TLS), private addresses not.
  const app = await startApp(t, { WEBHOOK_ALLOW_INSECURE: 'true' })
  const ann = await signup(app, 'ann@example.com')
  // Set behind the PUT's back, as if the rules had been looser when it was set.
  await app.webhooks.save({ userId: ann.id, url: `${receiver.url}/x`, secret: 'whsec_' + 'A'.repeat(32) }, 0)
  const upload = await uploadRaw(app, ann, 'photo-exif.jpg')
  await waitForJob(app, ann, upload.json().jobId)
  const [delivery] = await waitFor('the delivery to fail', () =>
    app.queue.list({ status: 'failed', kind: 'webhook.delivery', limit: 5 }).then((jobs) => jobs.length && jobs),
  )
  t.equal(delivery?.lastError?.code, 'WEBHOOK_TARGET_REFUSED')
  t.equal(delivery?.attempts, 1, 'at once')
  const text = (await app.inject({ url: '/metrics' })).body
  t.equal(metricValue(text, 'deckhand_webhook_deliveries_total{outcome="refused"}'), 1)
  t.equal(receiver.deliveries.length, 0)
})

t.test('a URL with an address is accepted at PUT exactly when the guard lets it through', async (t) => {
  // Each connection the guard lets through is seen as it is tried, and closed at once: nothing is sent.
  const tried: string[] = []
  const onSocket = (message: unknown) => {
    const { socket } = message as { socket: Socket }
    socket.on('connectionAttempt', (ip: string) => {
      tried.push(ip)
      setImmediate(() => socket.destroy())
    })
  }
  diagnostics.subscribe('net.client.socket', onSocket)
  t.teardown(() => diagnostics.unsubscribe('net.client.socket', onSocket))
  const cases: [url: string, accepted: boolean][] = [
    ['http://8.8.8.8:9/x', true],
    ['http://[2606:4700:4700::1111]:9/x', true],
    // IPv4-mapped: judged as the IPv4 address, at both places.
    ['http://[::ffff:8.8.8.8]:9/x', true],
    ['http://[::ffff:127.0.0.1]:9/x', false],
    // NAT64's well-known prefix: judged as the IPv4 address inside.
    ['http://[64:ff9b::808:808]:9/x', true],
    ['http://[64:ff9b::a00:1]:9/x', false],
    // IPv4-compatible, 6to4, Teredo: refused whatever they carry.
    ['http://[::7f00:1]:9/x', false],
    ['http://[::a9fe:a9fe]:9/x', false],
    ['http://[::808:808]:9/x', false],
    ['http://[2002:808:808::1]:9/x', false],
    ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]:9/x', false],
    ['http://127.0.0.1:9/x', false],
    ['http://169.254.169.254:9/x', false],
  ]
  const agents = guardedAgents({ allowPrivate: false, lookup: dns.lookup as LookupFunction })
  const signal = new AbortController().signal
  for (const [url, accepted] of cases) {
    let atPut = true
    try {
      checkWebhookUrl(url, { allowInsecure: true, allowPrivate: false })
    } catch {
      atPut = false
    }
    t.equal(atPut, accepted, `${url}: ${accepted ? 'accepted' : 'refused'} at PUT`)
    // The guard's own decision on the address as the host, without the handler's check of the URL.
    tried.length = 0
    const literal = await post(url, { headers: {}, body: '', agent: agents['http:'], signal, timeoutMs: 1000 }).then(
      () => undefined,
      (err: Error) => err,
    )
    t.equal(!(literal instanceof TargetRefusedError), accepted, `${url}: the guard agrees (${literal?.message})`)
    t.equal(tried.length > 0, accepted, `${url}: ${accepted ? 'a connection was tried' : 'no connection tried'}`)
    // And on the same address as a name resolves to it, through the delivery handler.
    tried.length = 0
    const address = new URL(url).hostname.replace(/^\[|\]$/g, '')
    const { err } = await attempt('http://hooks.example.com:9/x', { lookup: resolvingTo(address), timeoutMs: 1000 })
    const refused = (err as JobFailure | undefined)?.code === 'WEBHOOK_TARGET_REFUSED'
    t.equal(!refused, accepted, `hooks.example.com resolving to ${address}: ${(err as Error)?.message}`)
    t.equal(tried.length > 0, accepted, `${address} by name: ${accepted ? 'tried' : 'not tried'}`)
  }
})
