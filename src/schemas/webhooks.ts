import { Type } from 'typebox'
import { BearerSecurity, ErrorRef, IdParams } from './common.ts'
import { JobView } from './jobs.ts'

const WebhookUrl = Type.String({
  minLength: 1,
  maxLength: 2048,
  description:
    'Where avatar events are POSTed: https, a public host (http and private addresses only with ' +
    'WEBHOOK_ALLOW_INSECURE / WEBHOOK_ALLOW_PRIVATE, for development)',
})

export const WebhookBody = Type.Object({ url: WebhookUrl }, { additionalProperties: false })

const errors = { 400: ErrorRef, 401: ErrorRef, 403: ErrorRef }

export const putWebhookRouteSchema = {
  summary: "Set the user's webhook (avatar.ready, avatar.failed); a new PUT rotates the secret",
  description:
    'Answers the URL and a `whsec_…` signing secret, shown this once. Deliveries are signed per Standard ' +
    'Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`); verify them with the secret. A URL that is ' +
    'plainly bad (not https, credentials in it, a loopback, private or internal host) is `400 WEBHOOK_URL_REFUSED`.',
  security: BearerSecurity,
  params: IdParams,
  body: WebhookBody,
  response: {
    200: Type.Object({
      url: Type.String(),
      secret: Type.String({ description: 'The signing secret, `whsec_` + base64; shown once' }),
    }),
    ...errors,
    413: ErrorRef,
    415: ErrorRef,
  },
}

export const getWebhookRouteSchema = {
  summary: "The user's webhook URL (never its secret)",
  security: BearerSecurity,
  params: IdParams,
  response: { 200: Type.Object({ url: Type.String() }), ...errors, 404: ErrorRef },
}

export const deleteWebhookRouteSchema = {
  summary: "Remove the user's webhook: no more deliveries, those queued included",
  security: BearerSecurity,
  params: IdParams,
  response: { 204: Type.Null({ description: 'Removed (or there was none)' }), ...errors },
}

/** What a delivery POSTs: the Standard Webhooks body, its data the job's public view. */
export const WebhookDelivery = Type.Object({
  type: Type.Union([Type.Literal('avatar.ready'), Type.Literal('avatar.failed')]),
  timestamp: Type.String({ format: 'date-time', description: 'When the avatar job finished' }),
  data: JobView,
})

const header = (name: string, description: string) => ({
  name,
  in: 'header' as const,
  required: true,
  description,
  schema: { type: 'string' as const },
})

/** The OpenAPI 3.1 `webhooks` of the document: what deckhand calls, described as operations. */
export function webhooksDocument() {
  const operation = (event: string, summary: string) => ({
    post: {
      summary,
      description:
        `The event \`${event}\`, POSTed to the user's webhook URL with headers \`webhook-id\` (the delivery job's ` +
        'id, the same on every attempt), `webhook-timestamp` and `webhook-signature` (Standard Webhooks 1.0, ' +
        'HMAC-SHA256 with the `whsec_` secret). Answer 2xx within WEBHOOK_TIMEOUT_MS (10 s). 429 and 5xx are ' +
        'retried up to MAX_ATTEMPTS, after `Retry-After` if sent; redirects are not followed (retried as ' +
        'failures); 410 removes the webhook; any other 4xx ends the delivery.',
      parameters: [
        header('webhook-id', "The delivery's id (its job's): the same on every attempt, so a receiver can dedupe"),
        header('webhook-timestamp', 'When this attempt was signed, in Unix seconds'),
        header('webhook-signature', '`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, keyed with the whsec_ secret'),
      ],
      requestBody: { required: true, content: { 'application/json': { schema: WebhookDelivery } } },
      responses: {
        '2XX': { description: 'Delivered' },
        '410': { description: 'Gone: the webhook is removed' },
        '429': { description: 'Retried, after Retry-After' },
        '5XX': { description: 'Retried, after Retry-After if sent' },
      },
    },
  })
  return {
    'avatar.ready': operation('avatar.ready', 'An avatar was made: data is its job, succeeded'),
    'avatar.failed': operation('avatar.failed', 'An avatar could not be made: data is its job, failed'),
  }
}
