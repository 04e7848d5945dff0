import { randomUUID } from 'node:crypto'
import addressparser from 'nodemailer/lib/addressparser'
import { encodeWord, encodeWords, foldLines } from 'nodemailer/lib/mime-funcs'
import { encode as quotedPrintable, wrap as wrapQuotedPrintable } from 'nodemailer/lib/qp'

export interface MailParts {
  /** Stable per job, so a resend after a crash can be recognised downstream. */
  messageId: string
  to: string
  subject: string
  text: string
  html: string
}

export interface Mailbox {
  name: string
  address: string
}

/** The address of a From setting such as `deckhand <no-reply@deckhand.local>`, parsed once. */
export function parseMailbox(value: string): Mailbox {
  const [first] = addressparser(value, { flatten: true })
  if (!first?.address) throw new Error(`not a mail address: ${value}`)
  return { name: first.name, address: first.address }
}

// Characters that RFC 5322 lets into a display name only inside a quoted string.
const SPECIALS = /[()<>[\]:;@\\,."]/

function formatMailbox({ name, address }: Mailbox): string {
  if (!name) return address
  // A name with non-ASCII is one encoded word (an atom, whatever it holds); an ASCII one with specials is quoted.
  const display = /[^\x20-\x7e]/.test(name)
    ? encodeWord(name, 'Q', 52)
    : SPECIALS.test(name)
      ? `"${name.replace(/[\\"]/g, '\\$&')}"`
      : name
  return `${display} <${address}>`
}

/**
 * The RFC 5322 message of a signup mail: multipart/alternative, a text and an HTML part in UTF-8,
 * quoted-printable, headers folded at 76 and non-ASCII words encoded, all with nodemailer's own encoders.
 * nodemailer's composer builds the same tree through a stream pipeline per MIME node, which made it the largest
 * single cost of a signup's two mails on the event loop; this builds it as one string (its cost against the
 * composer's: src/bench/RESULTS.md, what was tried). Lines end in CRLF as on the wire, or in LF for files (`eol`).
 */
export function composeMail(mail: MailParts, from: Mailbox, date: Date, eol: '\r\n' | '\n' = '\r\n'): string {
  const boundary = `--_deckhand-${randomUUID()}`
  const header = (name: string, value: string) => foldLines(`${name}: ${value}`, 76)
  const part = (type: string, body: string) =>
    [
      `--${boundary}`,
      `Content-Type: ${type}; charset=utf-8`,
      'Content-Transfer-Encoding: quoted-printable',
      '',
      wrapQuotedPrintable(quotedPrintable(body.replace(/\r?\n/g, '\r\n')), 76),
    ].join('\r\n')
  const message = [
    header('From', formatMailbox(from)),
    header('To', mail.to),
    header('Subject', encodeWords(mail.subject, 'Q', 52)),
    header('Message-ID', mail.messageId),
    header('Date', date.toUTCString().replace(/GMT$/, '+0000')),
    'MIME-Version: 1.0',
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    '',
    part('text/plain', mail.text),
    part('text/html', mail.html),
    `--${boundary}--`,
    '',
  ].join('\r\n')
  return eol === '\r\n' ? message : message.replace(/\r\n/g, '\n')
}
