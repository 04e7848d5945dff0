import { WebhookUrlRefusedError } from '../errors.ts'
import { addressRefusal, bareHost, isAddress } from './address-policy.ts'

export interface WebhookUrlPolicy {
  /** WEBHOOK_ALLOW_INSECURE: http:// too (development and tests). */
  allowInsecure: boolean
  /** WEBHOOK_ALLOW_PRIVATE: hosts that are loopback or private addresses too (development and tests). */
  allowPrivate: boolean
}

// Names that are loopback or internal by definition (RFC 6761, 6762; the metadata names of cloud providers):
// refused at once, before DNS is asked. Any other name is resolved at delivery time and checked by the guard.
const INTERNAL_NAMES = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/i
const METADATA_NAMES = new Set(['metadata', 'metadata.google.internal', 'instance-data'])

/**
 * Checks a webhook URL as it is set (PUT): plainly bad URLs are refused there, with the reason. Returns the URL
 * as deckhand will call it. Where the host's name points is checked again at each delivery (see guard.ts), since
 * DNS may say something else by then.
 */
export function checkWebhookUrl(raw: string, policy: WebhookUrlPolicy): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new WebhookUrlRefusedError('something that is not a URL')
  }
  if (url.protocol !== 'https:' && !(policy.allowInsecure && url.protocol === 'http:')) {
    throw new WebhookUrlRefusedError(`a ${url.protocol.replace(/:$/, '')} URL`)
  }
  if (url.username || url.password) throw new WebhookUrlRefusedError('a URL with credentials in it')
  // Every trailing dot goes, not just one: `localhost..` meets the name rules below as localhost.
  const host = bareHost(url.hostname)
  if (!policy.allowPrivate) {
    if (isAddress(host)) {
      // The guard's own rule (address-policy.ts): what is accepted here is what it lets through.
      const refusal = addressRefusal(host)
      if (refusal) throw new WebhookUrlRefusedError(refusal)
    } else if (INTERNAL_NAMES.test(host) || METADATA_NAMES.has(host.toLowerCase()) || !host.includes('.')) {
      throw new WebhookUrlRefusedError(`the internal host name ${host}`)
    }
  }
  return url.href
}
