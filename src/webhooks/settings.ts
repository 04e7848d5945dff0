import type { WebhooksRepository } from './repository.ts'
import { newWebhookSecret } from './secret.ts'
import { checkWebhookUrl, type WebhookUrlPolicy } from './url-policy.ts'

/**
 * Sets a user's webhook: the URL checked (400 WEBHOOK_URL_REFUSED when plainly bad), a fresh secret made. Returns
 * both; the secret is shown this once. Setting it again rotates the secret.
 */
export async function setWebhook(
  webhooks: WebhooksRepository,
  policy: WebhookUrlPolicy,
  userId: string,
  rawUrl: string,
): Promise<{ url: string; secret: string }> {
  const url = checkWebhookUrl(rawUrl, policy)
  const secret = newWebhookSecret()
  await webhooks.save({ userId, url, secret }, Date.now())
  return { url, secret }
}
