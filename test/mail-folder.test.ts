import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { signup, startApp } from './helpers/app.ts'
import { waitFor } from './helpers/wait.ts'

t.test(
  'without SMTP_URL each mail is an .eml file in the mail folder DATA_DIR/mail, named by its Message-ID',
  async (t) => {
    const app = await startApp(t, { ADMIN_EMAIL: 'ops@example.org' })
    const folder = path.join(app.services.config.dataDir, 'mail')
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
