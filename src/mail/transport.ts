import fs from 'node:fs/promises'
import path from 'node:path'
import nodemailer from 'nodemailer'
import type { WatchErrors } from '../error-events.ts'

export interface OutgoingMail {
  /** Stable per job, so a resend after a crash can be recognised downstream. */
  messageId: string
  to: string
  subject: string
  text: string
  html: string
}

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
  concurrency: number
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
    maxConnections: options.concurrency,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
  })
  options.watchErrors(transporter, 'mail')
  const target = new URL(url)
  return {
    describe: `smtp://${target.hostname}:${target.port || (target.protocol === 'smtps:' ? 465 : 587)}`,
    async send(mail) {
      await transporter.sendMail({ ...mail, from: options.from })
    },
    close() {
      transporter.close()
    },
  }
}

function folderTransport(options: MailTransportOptions): MailTransport {
  // streamTransport renders the full RFC 5322 message (headers, MIME parts) without sending it anywhere.
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' })
  return {
    describe: `mail folder ${options.folder}`,
    async send(mail) {
      const info = await transporter.sendMail({ ...mail, from: options.from })
      await fs.mkdir(options.folder, { recursive: true })
      // Named after the Message-ID so a resend after a crash overwrites instead of duplicating; written to a
      // temporary name and renamed so a reader never sees half a message.
      const name = `${mail.messageId.replace(/[^A-Za-z0-9@._-]/g, '')}.eml`
      const tmp = path.join(options.folder, `.${name}.tmp`)
      await fs.writeFile(tmp, info.message as Buffer)
      await fs.rename(tmp, path.join(options.folder, name))
    },
    close() {},
  }
}
