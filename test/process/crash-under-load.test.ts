import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { fastEnv, fixture, type SignedUp, tempDataDir } from '../helpers/app.ts'
import { signupLoad } from '../helpers/load.ts'
import { startServerProcess } from '../helpers/server-process.ts'
import { startSmtp } from '../helpers/smtp.ts'
import { waitFor } from '../helpers/wait.ts'

t.test('SIGKILL under a mixed load of signups and uploads: after restart nothing acknowledged is lost', async (t) => {
  const dataDir = tempDataDir(t)
  const smtp = await startSmtp()
  t.teardown(() => smtp.close())
  const env = { ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: dataDir, SMTP_URL: smtp.url, MAX_ATTEMPTS: '10' }
  const first = await startServerProcess(env)
  t.teardown(() => first.child.kill('SIGKILL'))

  const load = signupLoad(first.url, 'load', 6)
  const signups = load.acked
  const uploads: { user: SignedUp; jobId: string }[] = []
  const images = [fs.readFileSync(fixture('photo-exif.jpg')), fs.readFileSync(fixture('alpha.png'))]
  let stop = false
  const uploadLoop = async (k: number) => {
    while (!stop) {
      const user = signups[signups.length - 1 - k]
      if (!user) {
        await new Promise((resolve) => setTimeout(resolve, 10))
        continue
      }
      try {
        const res = await fetch(`${first.url}/users/${user.id}/avatar`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${user.token}`, 'content-type': 'image/jpeg' },
          body: images[k % images.length],
        })
        if (res.status === 202) uploads.push({ user, jobId: ((await res.json()) as { jobId: string }).jobId })
      } catch {
        return
      }
    }
  }
  const uploading = Promise.all(Array.from({ length: 3 }, (_, k) => uploadLoop(k)))
  await waitFor('load to build up', () => signups.length >= 60 && uploads.length >= 6, 30_000)
  t.equal(await first.stop('SIGKILL'), 'SIGKILL', 'killed mid-load')
  stop = true
  await Promise.all([load.stop(), uploading])
  t.comment(
    `acknowledged before the kill: ${signups.length} signups, ${uploads.length} uploads; ${smtp.received.length} mails sent`,
  )

  // A partial upload as a crash would leave one: start-up must clear it.
  fs.mkdirSync(path.join(dataDir, 'uploads', 'incoming'), { recursive: true })
  fs.writeFileSync(path.join(dataDir, 'uploads', 'incoming', 'interrupted-upload'), Buffer.alloc(1000))

  const second = await startServerProcess(env)
  t.teardown(() => second.stop('SIGKILL'))
  const incoming = path.join(dataDir, 'uploads', 'incoming')
  t.same(fs.existsSync(incoming) ? fs.readdirSync(incoming) : [], [], 'partial uploads are removed at start-up')

  for (const user of signups) {
    const res = await fetch(`${second.url}/users/${user.id}`)
    if (res.status !== 200) t.fail(`acknowledged user ${user.id} is missing: ${res.status}`)
  }
  t.pass(`all ${signups.length} acknowledged users exist`)

  const expected = new Set(signups.flatMap((s) => s.jobs.map((j) => `<${j.id}@deckhand.local>`)))
  await waitFor(
    'every acknowledged signup to get both mails',
    () => [...expected].every((id) => smtp.received.some((m) => m.messageId === id)),
    60_000,
    100,
  )
  t.pass(`all ${expected.size} mails of acknowledged signups were delivered`)
  const counts = new Map<string, number>()
  for (const m of smtp.received) counts.set(m.messageId, (counts.get(m.messageId) ?? 0) + 1)
  const duplicates = [...counts.values()].filter((c) => c > 1).length
  t.comment(`duplicates (at-least-once, recognisable by Message-ID): ${duplicates}`)

  const outcomes = await waitFor(
    'every acknowledged upload to finish',
    async () => {
      const jobs = await Promise.all(
        uploads.map(async ({ user, jobId }) => {
          const res = await fetch(`${second.url}/jobs/${jobId}`, { headers: { authorization: `Bearer ${user.token}` } })
          return ((await res.json()) as { status: string }).status
        }),
      )
      return jobs.every((s) => s === 'succeeded' || s === 'failed') && jobs
    },
    90_000,
    250,
  )
  t.same(
    outcomes.filter((s) => s !== 'succeeded'),
    [],
    `all ${uploads.length} acknowledged uploads succeeded`,
  )
  t.equal(await second.stop('SIGTERM'), 0)
})
