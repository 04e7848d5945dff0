import PostalMime from 'postal-mime'
import t from 'tap'
import { composeMail, parseMailbox } from '../../src/mail/compose.ts'
import { adminSignupNotice, welcomeMail } from '../../src/mail/templates.ts'

// A real MIME parser reads the message back: what a mail client shows is what was composed. postal-mime keeps
// the line break before a boundary in the part (RFC 2046 5.1.1 gives it to the boundary; nodemailer's own
// messages read back the same way), so exactly one is taken off.
const parse = async (raw: string) => {
  const mail = await PostalMime.parse(raw)
  return { ...mail, text: mail.text?.replace(/\n$/, ''), html: mail.html?.replace(/\n$/, '') }
}

t.test('a composed mail reads back exactly: parts, headers, non-ASCII, long lines', async (t) => {
  const name = 'Zoë <script> 😀 '.repeat(6).trim()
  const parts = welcomeMail({ userId: '0d9c1c0e-3f0a-4a55-8f3e-6a1e3c1c2b7a', email: 'zoe@example.com', name })
  const from = parseMailbox('"Zoë, the deckhand" <hello@deckhand.test>')
  const date = new Date('2026-11-29T03:00:00Z')
  for (const eol of ['\r\n', '\n'] as const) {
    const raw = composeMail({ messageId: '<job-1@deckhand.test>', to: 'zoe@example.com', ...parts }, from, date, eol)
    const mail = await parse(raw)
    t.equal(mail.text, parts.text, `the text part, byte for byte (${JSON.stringify(eol)})`)
    t.equal(mail.html, parts.html, 'the HTML part')
    t.equal(mail.subject, parts.subject)
    t.same(mail.from, { name: 'Zoë, the deckhand', address: 'hello@deckhand.test' }, 'the display name survives')
    t.same(mail.to, [{ name: '', address: 'zoe@example.com' }])
    t.equal(mail.messageId, '<job-1@deckhand.test>')
    t.equal(mail.date, date.toISOString())
    const lines = raw.split(eol)
    t.ok(
      lines.every((l) => l.length <= 998),
      'no line over the 998 characters RFC 5322 allows',
    )
    t.ok(/^[\x20-\x7e\r\n\t]*$/.test(raw), 'plain ASCII on the wire: every non-ASCII character is encoded')
    if (eol === '\n') t.notOk(raw.includes('\r'), 'LF only in files')
  }
})

t.test('a non-ASCII subject and a plain sender are encoded as mail clients expect', async (t) => {
  const parts = adminSignupNotice({ userId: 'u1', email: 'ann@example.com', name: null })
  const raw = composeMail(
    { messageId: '<job-2@deckhand.test>', to: 'ops@deckhand.test', ...parts, subject: 'Neue Anmeldung: Jürgen' },
    parseMailbox('no-reply@deckhand.test'),
    new Date(),
  )
  const mail = await parse(raw)
  t.equal(mail.subject, 'Neue Anmeldung: Jürgen')
  t.same(mail.from, { name: '', address: 'no-reply@deckhand.test' })
  t.equal(mail.text, parts.text)
})

t.test('a From setting that holds no address is refused at start-up', async (t) => {
  t.throws(() => parseMailbox('deckhand'), /not a mail address/)
})
