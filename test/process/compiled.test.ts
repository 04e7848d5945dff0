import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { fastEnv, tempDataDir } from '../helpers/app.ts'
import { startNpmScript } from '../helpers/server-process.ts'
import { waitFor } from '../helpers/wait.ts'

const root = path.resolve(import.meta.dirname, '../..')

/*
 * `npm start` builds and runs the compiled JavaScript under dist/, not the sources through tsx: everything the
 * sources find beside themselves must be found from there too (the threads' modules under workers/, the dashboard's
 * browser files that are not compiled).
 */
t.test('npm start runs the compiled service: signup mail, an avatar on the image pool, the dashboard', async (t) => {
  const dataDir = tempDataDir(t)
  const npm = await startNpmScript('start', { ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: dataDir })
  t.teardown(() => npm.stop('SIGKILL').catch(() => {}))

  const cmdline = fs.readFileSync(`/proc/${npm.serverPid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  // The young generation capped at 8 MiB semi-spaces: Node 24's larger default held 100 MiB more under load
  // (src/bench/RESULTS.md, the young generation). Marking starts at 80% of the old generation's limit: by V8's own
  // rule a heap this size was marked again as soon as a marking ended (src/bench/RESULTS.md, marking at 80%). Young
  // collections done by the collecting thread alone: on two busy cores it waited for helpers that had none
  // (src/bench/RESULTS.md, young collections on one thread).
  t.same(
    cmdline.slice(1),
    [
      '--max-semi-space-size=8',
      '--incremental-marking-soft-trigger=80',
      '--no-parallel-scavenge',
      'dist/src/server.js',
    ],
    'the server is node on dist/src/server.js with the options of package.json, no loader',
  )

  const signup = await fetch(`${npm.url}/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ann@example.com', name: 'Ann' }),
  })
  t.equal(signup.status, 201)
  const { id, token } = (await signup.json()) as { id: string; token: string }
  const auth = { authorization: `Bearer ${token}` }

  // The mail folder's writer is a thread of its own (workers/mail-folder-writer).
  const mailDir = path.join(dataDir, 'mail')
  await waitFor('the two signup mails in the mail folder', () => {
    const files = fs.existsSync(mailDir) ? fs.readdirSync(mailDir, { recursive: true }) : []
    return files.filter((f) => String(f).endsWith('.eml')).length === 2
  })

  // The avatar runs in the Piscina pool's threads (workers/avatar).
  const upload = await fetch(`${npm.url}/users/${id}/avatar`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'image/jpeg' },
    body: fs.readFileSync(path.join(root, 'fixtures/images/photo-exif.jpg')),
  })
  t.equal(upload.status, 202)
  const { jobId } = (await upload.json()) as { jobId: string }
  const job = await fetch(`${npm.url}/jobs/${jobId}`, { headers: { ...auth, prefer: 'wait=20' } })
  const body = (await job.json()) as { status: string; result?: { variants: unknown[] } }
  t.equal(body.status, 'succeeded', 'the avatar job succeeded')
  t.ok(body.result?.variants.length, 'with its variants')

  // The dashboard's own script, served from src/ (the build compiles TypeScript only).
  const script = await fetch(`${npm.url}/dashboard/assets/login.js`)
  t.equal(script.status, 200)
  t.equal(await script.text(), fs.readFileSync(path.join(root, 'src/dashboard/assets/login.js'), 'utf8'))

  t.equal(await npm.stop(), 0, 'it shuts down cleanly on SIGTERM')
})
