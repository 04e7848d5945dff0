import type { Config } from '../config.ts'
import type { WatchErrors } from '../error-events.ts'
import { createMailTransport, type MailTransport } from './transport.ts'

/** The transport the configuration names: SMTP_URL's server, else .eml files in `folder`. */
export function openMailTransport(config: Config, folder: string, watchErrors: WatchErrors): MailTransport {
  return createMailTransport({
    smtpUrl: config.SMTP_URL,
    from: config.MAIL_FROM,
    folder,
    maxConnections: config.SMTP_MAX_CONNECTIONS,
    timeoutMs: config.MAIL_TIMEOUT_MS,
    watchErrors,
  })
}
