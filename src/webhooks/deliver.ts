import type { LookupFunction } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { type Static, Type } from 'typebox'
import { JobErrorCode, JobFailure } from '../errors.ts'
import type { JobHandler } from '../jobs/types.ts'
import type { WebhookOutcome } from '../metrics.ts'
import { guardedAgents, TargetRefusedError } from './guard.ts'
import { PostTimeoutError, post, retryAfterMs } from './post.ts'
import type { WebhooksRepository } from './repository.ts'
import { hostResolver } from './resolve-host.ts'
import { checkWebhookUrl, type WebhookUrlPolicy } from './url-policy.ts'

/** What a delivery job carries: whose webhook, which event (a kind's KindEvents), its data, and when (epoch ms). */
export const WebhookDeliveryPayload = Type.Object({
  userId: Type.String(),
  event: Type.String(),
  data: Type.Unknown(),
  occurredAt: Type.Number(),
})
export type WebhookDeliveryPayload = Static<typeof WebhookDeliveryPayload>

export interface DeliveryOptions extends WebhookUrlPolicy {
  webhooks: WebhooksRepository
  /** WEBHOOK_TIMEOUT_MS: resolving, connecting, sending and the answer's head, all of it. */
  timeoutMs: number
  /** Counts each attempt's outcome (/metrics). */
  onOutcome: (outcome: WebhookOutcome) => void
  /** Tests only: resolve host names with this instead of DNS. */
  lookup?: LookupFunction
  /** Tests only: the DNS servers to resolve host names with instead of the system's. */
  dnsServers?: string[]
}

/**
 * The handler of a delivery job: POSTs the event to the user's webhook as it is now (a rotated secret signs, a
 * removed webhook is not called), signed per Standard Webhooks (`webhook-id` is the delivery job's id, the same
 * on every attempt; `webhook-timestamp` is the attempt's time; the body `{type, timestamp, data}`). A 2xx
 * succeeds; a 410 removes the webhook; 429, 5xx, a redirect (not followed), a timeout or no connection are
 * retried, after the receiver's Retry-After if it sent one; any other 4xx fails at once; an address the SSRF
 * guard refuses fails at once (WEBHOOK_TARGET_REFUSED).
 */
export function webhookDeliveryHandler(options: DeliveryOptions): JobHandler<WebhookDeliveryPayload> {
  const lookup =
    options.lookup ??
    hostResolver({ timeoutMs: options.timeoutMs, servers: options.dnsServers, systemFallback: options.allowPrivate })
  const agents = guardedAgents({ allowPrivate: options.allowPrivate, lookup })
  return async (job, ctx) => {
    const { payload } = job
    const hook = await options.webhooks.get(payload.userId)
    // Removed since: the user asked for no more calls.
    if (!hook) return { delivered: false, reason: 'the webhook was removed' }
    let url: string
    try {
      // Checked again: the settings may have tightened since the URL was set.
      url = checkWebhookUrl(hook.url, options)
    } catch (err) {
      options.onOutcome('refused')
      throw new JobFailure(JobErrorCode.WEBHOOK_TARGET_REFUSED, 'the webhook URL is refused', false, String(err))
    }
    const body = JSON.stringify({
      type: payload.event,
      timestamp: new Date(payload.occurredAt).toISOString(),
      data: payload.data,
    })
    const now = new Date()
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'deckhand-webhooks',
      'webhook-id': job.id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Webhook(hook.secret).sign(job.id, now, body),
    }
    let answer: Awaited<ReturnType<typeof post>>
    try {
      answer = await post(url, {
        headers,
        body,
        agent: agents[new URL(url).protocol as 'http:' | 'https:'],
        signal: ctx.signal,
        timeoutMs: options.timeoutMs,
      })
    } catch (err) {
      // Shutdown: the job goes back to the queue, the attempt not counted.
      if (ctx.signal.aborted) throw err
      throw unreached(err, options)
    }
    const { status } = answer
    ctx.log.debug({ status }, 'webhook answered')
    if (status >= 200 && status < 300) {
      options.onOutcome('delivered')
      return { delivered: true, status }
    }
    if (status === 410) {
      options.onOutcome('gone')
      await options.webhooks.removeIfUrl(payload.userId, hook.url)
      throw new JobFailure(JobErrorCode.WEBHOOK_GONE, 'the receiver answered 410 Gone: the webhook was removed', false)
    }
    if (status === 429 || status >= 500 || (status >= 300 && status < 400)) {
      options.onOutcome('error')
      const why = status < 400 ? `${status}, a redirect, which is not followed` : String(status)
      const after = retryAfterMs(answer.headers['retry-after'], Date.now())
      throw new JobFailure(JobErrorCode.WEBHOOK_ERROR, `the receiver answered ${why}`, true, undefined, after)
    }
    options.onOutcome('rejected')
    throw new JobFailure(JobErrorCode.WEBHOOK_REJECTED, `the receiver answered ${status}`, false)
  }
}

/** A delivery that got no answer: refused by the guard (final), or timed out or not connected (retried). */
function unreached(err: unknown, options: DeliveryOptions): JobFailure {
  const detail = (err as Error).message
  if (err instanceof TargetRefusedError) {
    options.onOutcome('refused')
    return new JobFailure(
      JobErrorCode.WEBHOOK_TARGET_REFUSED,
      'the webhook host resolves to an address deckhand does not call (loopback, private, link-local or reserved)',
      false,
      detail,
    )
  }
  options.onOutcome('error')
  if (err instanceof PostTimeoutError)
    return new JobFailure(JobErrorCode.WEBHOOK_ERROR, `no answer within ${options.timeoutMs} ms`)
  // The system's reason (ECONNREFUSED, ENOTFOUND) without the address it was about.
  const reason = (err as NodeJS.ErrnoException).code ?? 'error'
  return new JobFailure(JobErrorCode.WEBHOOK_ERROR, `could not reach the receiver (${reason})`, true, detail)
}
