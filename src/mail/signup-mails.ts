import { JobErrorCode, JobFailure } from '../errors.ts'
import type { JobHandler } from '../jobs/types.ts'
import type { RenderedMail, SignupFacts } from './templates.ts'
import type { MailTransport } from './transport.ts'

export interface MailHandlerOptions {
  transport: MailTransport
  /** Right-hand side of generated Message-IDs. */
  messageIdDomain: string
}

/** The handler of one signup mail: renders it for the job's facts and hands it to the transport. */
export function signupMailHandler(
  options: MailHandlerOptions,
  render: (u: SignupFacts) => RenderedMail,
  to: (u: SignupFacts) => string,
): JobHandler<SignupFacts> {
  return async (job, ctx) => {
    const facts = job.payload
    const messageId = `<${job.id}@${options.messageIdDomain}>`
    const recipient = to(facts)
    try {
      await options.transport.send({ messageId, to: recipient, ...render(facts) })
    } catch (err) {
      throw smtpFailure(err as SmtpError)
    }
    ctx.log.debug({ to: recipient }, 'mail sent')
    // The owner reads this result: the recipient is theirs to see only when it is their own address.
    return recipient === facts.email ? { messageId, to: recipient } : { messageId }
  }
}

/** The right-hand side of MAIL_FROM, for Message-IDs of our own. */
export function mailDomain(from: string): string {
  return from.match(/@([A-Za-z0-9.-]+)/)?.[1] ?? 'deckhand.local'
}

/** What nodemailer puts on a failed send: the server's reply code and text when there was a reply. */
type SmtpError = Error & { responseCode?: number; response?: string; code?: string }

/**
 * A 5xx answer is permanent (RFC 5321, 4.2.1: the same message would get the same answer), so the job fails at
 * once. A 4xx answer, a timeout or a refused connection is passing trouble, retried with backoff.
 * What the job's owner is told is the reply code, or that the server could not be reached; the full text (the
 * relay's host and port, an answer that may quote the admin's address) is the detail, for the log and the admin.
 */
function smtpFailure(e: SmtpError): JobFailure {
  if (e.responseCode) {
    const detail = `${e.responseCode}: ${e.response ?? e.message}`
    return e.responseCode >= 500 && e.responseCode < 600
      ? new JobFailure(
          JobErrorCode.SMTP_REJECTED,
          `the mail server refused the message: ${e.responseCode}`,
          false,
          detail,
        )
      : new JobFailure(JobErrorCode.SMTP_ERROR, `the mail server deferred the message: ${e.responseCode}`, true, detail)
  }
  // The system's reason (ECONNREFUSED, ETIMEDOUT) without the address it was about.
  const reason = /\bE[A-Z]{3,}\b/.exec(e.message)?.[0] ?? e.code ?? 'error'
  return new JobFailure(
    JobErrorCode.SMTP_ERROR,
    `could not reach the mail server (${reason})`,
    true,
    `${e.code ?? 'error'}: ${e.message}`,
  )
}
