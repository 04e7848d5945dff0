import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { type MailParts, parseMailbox } from '../../src/mail/compose.ts'
import { FolderWriter } from '../../src/mail/folder-writer.ts'
import { tempDataDir } from '../helpers/app.ts'

const from = parseMailbox('deckhand <no-reply@deckhand.test>')
const mail = (id: string): MailParts => ({
  messageId: `<${id}@deckhand.test>`,
  to: `${id}@example.test`,
  subject: `Hello ${id}`,
  text: `text of ${id}\n`,
  html: `<p>html of ${id}</p>`,
})

/** A message's headers and parts, as a reader of the .eml file finds them. */
function readMessage(file: string) {
  const message = fs.readFileSync(file, 'utf8')
  const header = (name: string) => message.match(new RegExp(`^${name}: (.*)$`, 'm'))?.[1]
  return { message, from: header('From'), to: header('To'), messageId: header('Message-ID'), date: header('Date') }
}

t.test('mails written together land whole under their names, composed, with no temporary file left', async (t) => {
  const folder = path.join(tempDataDir(t), 'mail')
  const writer = new FolderWriter(from)
  t.teardown(() => writer.close())
  const before = Date.now() - 1000
  const files = Array.from({ length: 200 }, (_, i) => ({ file: path.join(folder, `${i}.eml`), mail: mail(`m${i}`) }))
  await Promise.all(files.map((f) => writer.write(f.file, f.mail)))
  const read = files.map(({ file }) => readMessage(file))
  t.same(
    read.map(({ from, to, messageId }) => ({ from, to, messageId })),
    files.map(({ mail }) => ({ from: 'deckhand <no-reply@deckhand.test>', to: mail.to, messageId: mail.messageId })),
    'every file holds its own message, composed on the thread; the missing folder was made',
  )
  t.ok(
    read.every(({ message, date }, i) => message.includes(`text of m${i}`) && Date.parse(date ?? '') >= before),
    'with its text part and the date it was written',
  )
  t.notOk(read[0]?.message.includes('\r\n'), 'lines end in LF, as files do')
  t.same(
    fs.readdirSync(folder).filter((f) => f.endsWith('.tmp')),
    [],
  )

  fs.rmSync(folder, { recursive: true })
  await writer.write(path.join(folder, 'again.eml'), mail('again'))
  t.equal(
    readMessage(path.join(folder, 'again.eml')).to,
    'again@example.test',
    'a folder removed meanwhile is made again',
  )
})

t.test('a file that cannot be written fails alone; the others of its batch are written', async (t) => {
  const dir = tempDataDir(t)
  fs.writeFileSync(path.join(dir, 'not-a-folder'), '')
  const writer = new FolderWriter(from)
  t.teardown(() => writer.close())
  const [bad, good] = await Promise.allSettled([
    writer.write(path.join(dir, 'not-a-folder', 'x.eml'), mail('x')),
    writer.write(path.join(dir, 'y.eml'), mail('y')),
  ])
  t.equal(bad?.status, 'rejected')
  t.match((bad as PromiseRejectedResult).reason, { code: 'ENOTDIR' }, 'with the system error code, for the retry rules')
  t.equal(good?.status, 'fulfilled')
  t.equal(readMessage(path.join(dir, 'y.eml')).to, 'y@example.test')
})

t.test('a thread that dies fails what it held, and the next write starts a new one', async (t) => {
  const dir = tempDataDir(t)
  const writer = new FolderWriter(from)
  t.teardown(() => writer.close())
  await writer.write(path.join(dir, 'a.eml'), mail('a'))
  const pending = writer.write(path.join(dir, 'b.eml'), mail('b'))
  // What a crash of the thread looks like to the writer: it exits with the write unanswered.
  await writer.close()
  await t.rejects(pending, /stopped/)
  await writer.write(path.join(dir, 'c.eml'), mail('c'))
  t.equal(readMessage(path.join(dir, 'c.eml')).to, 'c@example.test')
})
