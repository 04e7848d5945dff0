import type { Config } from '../config.ts'
import type { Database } from '../db/database.ts'
import { defineJobKind, defineLane } from '../jobs/kind.ts'
import type { Metrics } from '../metrics.ts'
import { WebhookDeliveryPayload, webhookDeliveryHandler } from './deliver.ts'
import { createWebhooksRepository } from './repository.ts'

/**
 * On the event loop like mail: a delivery is a request and a wait for its answer. A receiver that never answers
 * holds a slot for WEBHOOK_TIMEOUT_MS: only its owner's share of them.
 */
export const webhookLane = defineLane({
  name: 'webhooks',
  concurrency: (config) => config.WEBHOOK_CONCURRENCY,
  perOwner: (config) => config.WEBHOOK_CONCURRENCY_PER_USER,
})

/** What a delivery's handler is made from, where jobs run. */
export interface DeliveryParts {
  config: Pick<Config, 'WEBHOOK_TIMEOUT_MS' | 'WEBHOOK_ALLOW_INSECURE' | 'WEBHOOK_ALLOW_PRIVATE'>
  database: Database
  metrics: Pick<Metrics, 'observeWebhookDelivery'>
}

/** One webhook delivery: a POST of one event to its owner's webhook. Fair: one user's backlog waits its turn. */
export const webhookDeliveryJob = defineJobKind({
  name: 'webhook.delivery',
  payload: WebhookDeliveryPayload,
  lane: webhookLane,
  fair: true,
  handler: ({ config, database, metrics }: DeliveryParts) =>
    webhookDeliveryHandler({
      webhooks: createWebhooksRepository(database.db),
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      allowInsecure: config.WEBHOOK_ALLOW_INSECURE,
      allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
      onOutcome: metrics.observeWebhookDelivery,
    }),
})
