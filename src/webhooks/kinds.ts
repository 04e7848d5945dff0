/** The job kind of one webhook delivery, run in the webhooks lane on the event loop, beside mail. */
export const WebhookDeliveryKind = 'webhook.delivery'

/** What a user's webhook hears of. */
export const WEBHOOK_EVENTS = ['avatar.ready', 'avatar.failed'] as const
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number]

/** What a delivery job carries: whose webhook, which event, its data, and when it happened (epoch ms). */
export interface WebhookDeliveryPayload {
  userId: string
  event: WebhookEvent
  data: unknown
  occurredAt: number
}
