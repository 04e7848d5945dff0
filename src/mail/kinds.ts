import { Type } from 'typebox'
import type { Config } from '../config.ts'
import { defineJobKind, defineLane } from '../jobs/kind.ts'
import { mailFolderSweep } from './folder-retention.ts'
import { mailDomain, signupMailHandler } from './signup-mails.ts'
import { adminSignupNotice, welcomeMail } from './templates.ts'
import type { MailTransport } from './transport.ts'

/** On the event loop: a mail is a connection and a wait for the server's answer, not CPU. */
export const mailLane = defineLane({ name: 'mail', concurrency: (config) => config.MAIL_CONCURRENCY })

/** What a signup mail is made from: the user as they signed up. */
export const SignupFactsSchema = Type.Object({
  userId: Type.String(),
  email: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
})

/** What a mail kind's handler is made from, where jobs run. */
export interface MailParts {
  config: Pick<Config, 'MAIL_FROM' | 'ADMIN_EMAIL'>
  mail: MailTransport
}

const options = (parts: MailParts) => ({ transport: parts.mail, messageIdDomain: mailDomain(parts.config.MAIL_FROM) })

/** The welcome mail to a new user. */
export const welcomeMailJob = defineJobKind({
  name: 'mail.welcome',
  payload: SignupFactsSchema,
  lane: mailLane,
  handler: (parts: MailParts) => signupMailHandler(options(parts), welcomeMail, (u) => u.email),
  sweep: mailFolderSweep,
})

/** The notice of a signup to ADMIN_EMAIL. */
export const adminNoticeMailJob = defineJobKind({
  name: 'mail.admin-notice',
  payload: SignupFactsSchema,
  lane: mailLane,
  handler: (parts: MailParts) => signupMailHandler(options(parts), adminSignupNotice, () => parts.config.ADMIN_EMAIL),
  // One sweep for both: they write one folder.
  sweep: mailFolderSweep,
})

export const mailKinds = [welcomeMailJob, adminNoticeMailJob]
