import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { signup, startApp } from '../helpers/app.ts'
import { waitFor } from '../helpers/wait.ts'

t.test(
  'without SMTP_URL each mail is an .eml file in the mail folder DATA_DIR/mail, named by its Message-ID',
  async (t) => {
    const app = await startApp(t, { ADMIN_EMAIL: 'ops@example.org' })
    const folder = path.join(app.config.dataDir, 'mail')
    const ann = await signup(app, 'ann@example.com', 'Ann')
    const files = await waitFor('two .eml files', () => {
      const names = fs.existsSync(folder) ? fs.readdirSync(folder).filter((f) => f.endsWith('.eml')) : []
      return names.length === 2 && names
    })
    t.same(files.sort(), ann.jobs.map((j) => `${j.id}@deckhand.local.eml`).sort())
    const welcomeId = ann.jobs.find((j) => j.kind === 'mail.welcome')?.id
    const welcome = fs.readFileSync(path.join(folder, `${welcomeId}@deckhand.local.eml`), 'utf8')
    t.match(welcome, /^To: ann@example.com$/m)
    t.match(welcome, /^Subject: Welcome to deckhand$/m)
    t.match(welcome, new RegExp(`^Message-ID: <${welcomeId}@deckhand.local>$`, 'm'))
    t.match(welcome, /Hello Ann,/)
    const notice = fs.readFileSync(
      path.join(folder, files.find((f) => !f.startsWith(welcomeId as string)) as string),
      'utf8',
    )
    t.match(notice, /^To: ops@example.org$/m)
    t.same(
      fs.readdirSync(folder).filter((f) => f.endsWith('.tmp')),
      [],
      'no half-written temporary files are left',
    )
  },
)

t.test('mail files are removed once past JOB_RETENTION_MS, like the jobs that wrote them; 0 keeps them', async (t) => {
  for (const retention of ['3600000', '0']) {
    const app = await startApp(t, { JOB_RETENTION_MS: retention })
    const folder = path.join(app.config.dataDir, 'mail')
    await signup(app, 'ann@example.com')
    const files = await waitFor('both mails to be written', () => {
      const names = fs.existsSync(folder) ? fs.readdirSync(folder).filter((f) => f.endsWith('.eml')) : []
      return names.length === 2 && names
    })
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000)
    fs.utimesSync(path.join(folder, files[0] as string), twoHoursAgo, twoHoursAgo)
    await app.sweeper.sweep()
    const left = fs.readdirSync(folder).filter((f) => f.endsWith('.eml'))
    if (retention === '0') t.same(left.sort(), [...files].sort(), 'JOB_RETENTION_MS=0: every mail file kept')
    else t.same(left, [files[1]], 'the two-hour-old file went, the new one stayed')
  }
})
