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
        throw smtpFailure(err as SmtpError)
      }
      return { messageId, to: to(facts) }
    }
  return {
    [MailKind.welcome]: send(welcomeMail, (u) => u.email),
    [MailKind.adminNotice]: send(adminSignupNotice, () => options.adminEmail),
  }
}

/** What nodemailer puts on a failed send: the server's reply code and text when there was a reply. */
type SmtpError = Error & { responseCode?: number; response?: string; code?: string }

/**
 * A 5xx answer is permanent (RFC 5321, 4.2.1: the same message would get the same answer), so the job fails at
 * once. A 4xx answer, a timeout or a refused connection is passing trouble, retried with backoff.
 */
function smtpFailure(e: SmtpError): JobFailure {
  const detail = e.response ?? e.message
  if (e.responseCode && e.responseCode >= 500 && e.responseCode < 600) {
    return new JobFailure(JobErrorCode.SMTP_REJECTED, `${e.responseCode}: ${detail}`, false)
  }
  return new JobFailure(
    JobErrorCode.SMTP_ERROR,
    e.responseCode ? `${e.responseCode}: ${detail}` : `${e.code ?? 'error'}: ${detail}`,
  )
}
