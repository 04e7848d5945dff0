import type { LookupFunction } from 'node:net'
import pino from 'pino'
import type { Job } from '../../src/jobs/types.ts'
import type { WebhookOutcome } from '../../src/metrics.ts'
import { type WebhookDeliveryPayload, webhookDeliveryHandler } from '../../src/webhooks/deliver.ts'
import type { WebhooksRepository } from '../../src/webhooks/repository.ts'

/** Resolves every name to `address`, as a DNS server controlled by an attacker would. */
export const resolvingTo =
  (address: string): LookupFunction =>
  (_hostname, options, callback) => {
    const family = address.includes(':') ? 6 : 4
    if ((options as { all?: boolean }).all)
      (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }])
    else (callback as (e: null, a: string, f: number) => void)(null, address, family)
  }

export function deliveryJob(userId: string): Job<WebhookDeliveryPayload> {
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

export interface AttemptOptions {
  lookup?: LookupFunction
  dnsServers?: string[]
  allowPrivate?: boolean
  timeoutMs?: number
}

/**
 * One delivery attempt to `url` by the real handler (http allowed), outside any queue: what it returned or
 * threw, and the outcomes it counted.
 */
export async function attempt(url: string, options: AttemptOptions = {}) {
  const outcomes: WebhookOutcome[] = []
  const webhooks: WebhooksRepository = {
    get: async (userId) => ({ userId, url, secret: `whsec_${Buffer.alloc(24, 7).toString('base64')}` }),
    save: async () => {},
    remove: async () => {},
    removeIfUrl: async () => {},
  }
  const handler = webhookDeliveryHandler({
    webhooks,
    timeoutMs: options.timeoutMs ?? 2000,
    allowInsecure: true,
    allowPrivate: options.allowPrivate ?? false,
    onOutcome: (o) => outcomes.push(o),
    ...(options.lookup ? { lookup: options.lookup } : {}),
    ...(options.dnsServers ? { dnsServers: options.dnsServers } : {}),
  })
  const ctx = { signal: new AbortController().signal, log: pino({ level: 'silent' }), setStage: () => {} }
  try {
    return { result: await handler(deliveryJob('u1'), ctx), outcomes }
  } catch (err) {
    return { err, outcomes }
  }
}
