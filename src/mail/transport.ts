import path from 'node:path'
import nodemailer from 'nodemailer'
import type { WatchErrors } from '../error-events.ts'
import { composeMail, type MailParts, parseMailbox } from './compose.ts'
import { FolderWriter } from './folder-writer.ts'

/** A mail to send: its parts, composed into a message by the transport. */
export type OutgoingMail = MailParts

export interface MailTransport {
  /** Where messages go, for the start-up log: an SMTP host or the mail folder. */
  readonly describe: string
  send(mail: OutgoingMail): Promise<void>
  close(): void
}

export interface MailTransportOptions {
  smtpUrl: string | undefined
  from: string
  /** Where .eml files go without SMTP_URL. */
  folder: string
  /** SMTP connections open at most (relays limit them per client; nodemailer queues the rest). */
  maxConnections: number
  timeoutMs: number
  /** Listens for 'error' on the transport: the SMTP pool reports connection failures there. */
  watchErrors: WatchErrors
}

/** SMTP (pooled) when SMTP_URL is set, otherwise one .eml file per message in the mail folder. */
export function createMailTransport(options: MailTransportOptions): MailTransport {
  return options.smtpUrl ? smtpTransport(options, options.smtpUrl) : folderTransport(options)
}

function smtpTransport(options: MailTransportOptions, url: string): MailTransport {
  const transporter = nodemailer.createTransport({
    url,
    pool: true,
    maxConnections: options.maxConnections,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
  })
  options.watchErrors(transporter, 'mail')
  const target = new URL(url)
  const from = parseMailbox(options.from)
  return {
    describe: `smtp://${target.hostname}:${target.port || (target.protocol === 'smtps:' ? 465 : 587)}`,
    async send(mail) {
      // Composed here (see compose.ts); nodemailer delivers the message as it is.
      await transporter.sendMail({
        envelope: { from: from.address, to: [mail.to] },
        raw: composeMail(mail, from, new Date()),
      })
    },
    close() {
      transporter.close()
    },
  }
}

function folderTransport(options: MailTransportOptions): MailTransport {
  const writer = new FolderWriter(parseMailbox(options.from), options.watchErrors)
  return {
    describe: `mail folder ${options.folder}`,
    async send(mail) {
      // Named after the Message-ID so a resend after a crash overwrites instead of duplicating. Composed on the
      // writer's thread (folder-writer.ts).
      const name = `${mail.messageId.replace(/[^A-Za-z0-9@._-]/g, '')}.eml`
      await writer.write(path.join(options.folder, name), mail)
    },
    close() {
      void writer.close()
    },
  }
}
