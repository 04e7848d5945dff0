import type { LookupFunction } from 'node:net'
import pino from 'pino'
import t from 'tap'
import { metricValue } from '../../src/bench/stats.ts'
import { JobFailure } from '../../src/errors.ts'
import type { Job } from '../../src/jobs/types.ts'
import type { WebhookOutcome } from '../../src/metrics.ts'
import { webhookDeliveryHandler } from '../../src/webhooks/deliver.ts'
import type { WebhooksRepository } from '../../src/webhooks/repository.ts'
import { signup, startApp, uploadRaw, waitForJob } from '../helpers/app.ts'
import { waitFor } from '../helpers/wait.ts'
import { startReceiver } from '../helpers/webhook-receiver.ts'

/*
 * The SSRF guard at delivery time: the host is resolved when the delivery is made and the address checked
 * before connecting (request-filtering-agent). A public-looking name is pointed at each forbidden address by a
 * resolver of the test's own, and the real receiver on loopback shows whether anything reached it.
 */

/** Resolves every name to `address`, as a DNS server controlled by an attacker would. */
const resolvingTo =
  (address: string): LookupFunction =>
  (_hostname, options, callback) => {
    const family = address.includes(':') ? 6 : 4
    if ((options as { all?: boolean }).all)
      (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }])
    else (callback as (e: null, a: string, f: number) => void)(null, address, family)
  }

function deliveryJob(userId: string): Job {
  return {
    id: '6f1c1a9e-1b2c-4d3e-8f40-5a6b7c8d9e0f',
    kind: 'webhook.delivery',
    ownerId: userId,
    payload: { userId, event: 'avatar.ready', data: { id: 'x' }, occurredAt: Date.now() },
    status: 'running',
    attempts: 1,
    runAt: Date.now(),
    stage: null,
    lastError: null,
    result: null,
    createdAt: Date.now(),
    startedAt: Date.now(),
    finishedAt: null,
  }
}

async function attempt(url: string, lookup: LookupFunction, allowPrivate = false) {
  const outcomes: WebhookOutcome[] = []
  const webhooks: WebhooksRepository = {
    get: async (userId) => ({ userId, url, secret: `whsec_${Buffer.alloc(24, 7).toString('base64')}` }),
    save: async () => {},
    remove: async () => {},
    removeIfUrl: async () => {},
  }
  const handler = webhookDeliveryHandler({
    webhooks,
    timeoutMs: 2000,
    allowInsecure: true,
    allowPrivate,
    onOutcome: (o) => outcomes.push(o),
    lookup,
  })
  const ctx = { signal: new AbortController().signal, log: pino({ level: 'silent' }), setStage: () => {} }
  try {
    return { result: await handler(deliveryJob('u1'), ctx), outcomes }
  } catch (err) {
    return { err, outcomes }
  }
}

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
  ]
  for (const address of forbidden) {
    const { err, outcomes } = await attempt(`http://hooks.example.com:${port}/x`, resolvingTo(address))
    t.ok(err instanceof JobFailure, `${address}: the attempt failed`)
    t.equal((err as JobFailure).code, 'WEBHOOK_TARGET_REFUSED', `${address}: WEBHOOK_TARGET_REFUSED`)
    t.equal((err as JobFailure).retryable, false, `${address}: not retried`)
    t.same(outcomes, ['refused'])
  }
  t.equal(receiver.deliveries.length, 0, 'nothing reached the receiver')

  // The same name, the same resolver, with WEBHOOK_ALLOW_PRIVATE: it does reach the receiver, so the refusals
  // above were the guard's and not a resolver that did not work.
  const { result, outcomes } = await attempt(`http://hooks.example.com:${port}/x`, resolvingTo('127.0.0.1'), true)
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
  await app.services.webhooks.save({ userId: ann.id, url: `${receiver.url}/x`, secret: 'whsec_' + 'A'.repeat(32) }, 0)
  const upload = await uploadRaw(app, ann, 'photo-exif.jpg')
  await waitForJob(app, ann, upload.json().jobId)
  const [delivery] = await waitFor('the delivery to fail', () =>
    app.services.queue
      .list({ status: 'failed', kind: 'webhook.delivery', limit: 5 })
      .then((jobs) => jobs.length && jobs),
  )
  t.equal(delivery?.lastError?.code, 'WEBHOOK_TARGET_REFUSED')
  t.equal(delivery?.attempts, 1, 'at once')
  const text = (await app.inject({ url: '/metrics' })).body
  t.equal(metricValue(text, 'deckhand_webhook_deliveries_total{outcome="refused"}'), 1)
  t.equal(receiver.deliveries.length, 0)
})
