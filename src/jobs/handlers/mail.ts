import { JobErrorCode, JobFailure } from '../../errors.ts'
import { adminSignupNotice, type RenderedMail, type SignupFacts, welcomeMail } from '../../mail/templates.ts'
import type { MailTransport } from '../../mail/transport.ts'
import type { JobHandler } from '../types.ts'

export const MailKind = { welcome: 'mail.welcome', adminNotice: 'mail.admin-notice' } as const

export interface MailHandlerOptions {
  transport: MailTransport
  adminEmail: string
  /** Right-hand side of generated Message-IDs. */
  messageIdDomain: string
}

/** Job handlers that render a signup mail and hand it to the transport. */
export function mailHandlers(options: MailHandlerOptions): Record<string, JobHandler> {
  const send =
    (render: (u: SignupFacts) => RenderedMail, to: (u: SignupFacts) => string): JobHandler =>
    async (job) => {
      const facts = job.payload as SignupFacts
      const messageId = `<${job.id}@${options.messageIdDomain}>`
      try {
        await options.transport.send({ messageId, to: to(facts), ...render(facts) })
      } catch (err) {
        const e = err as Error & { responseCode?: number; response?: string; code?: string }
        const detail = e.response ?? e.message
        throw new JobFailure(
          JobErrorCode.SMTP_ERROR,
          e.responseCode ? `${e.responseCode}: ${detail}` : `${e.code ?? 'error'}: ${detail}`,
        )
      }
      return { messageId, to: to(facts) }
    }
  return {
    [MailKind.welcome]: send(welcomeMail, (u) => u.email),
    [MailKind.adminNotice]: send(adminSignupNotice, () => options.adminEmail),
  }
}
