import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { fastEnv, fixture, tempDataDir } from '../helpers/app.ts'
import { chunkedUpload, signupLoad, split } from '../helpers/load.ts'
import { startServerProcess } from '../helpers/server-process.ts'
import { startSmtp } from '../helpers/smtp.ts'
import { waitFor } from '../helpers/wait.ts'

/** Every file under `dir`, recursively. */
function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name)
    return e.isDirectory() ? walk(full) : [full]
  })
}

t.test(
  'SIGTERM under load: in-flight requests answered, nothing half-written, exit 0, the rest runs after restart',
  async (t) => {
    const dataDir = tempDataDir(t)
    const smtp = await startSmtp({ delayMs: 50 })
    t.teardown(() => smtp.close())
    const env = { ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: dataDir, SMTP_URL: smtp.url, SHUTDOWN_GRACE_MS: '3000' }
    const first = await startServerProcess(env)
    t.teardown(() => first.child.kill('SIGKILL'))

    const load = signupLoad(first.url, 'term', 4)
    await waitFor('some signups', () => load.acked.length >= 20)
    const uploader = load.acked[0] as { id: string; token: string }

    // Sent slowly, in ten pieces, so that it is still arriving when the server is told to stop.
    let terminatedAt = 0
    const image = fs.readFileSync(fixture('photo-exif.jpg'))
    const upload = chunkedUpload(first.url, uploader, split(image, 10), {
      delayMs: 100,
      contentLength: image.length,
      onChunk: (sent) => {
        if (sent !== 5) return
        terminatedAt = Date.now()
        first.child.kill('SIGTERM')
      },
    })
    const exitedAt = first.exited.then(() => Date.now())
    const answer = await upload
    t.equal(answer.status, 202, 'the upload in flight at SIGTERM was answered in full')
    const { jobId } = JSON.parse(answer.body)
    t.equal(await first.exited, 0, 'exit code 0')
    await load.stop()
    const took = (await exitedAt) - terminatedAt
    t.ok(took < 3000 + 1000, `exited ${took} ms after SIGTERM (grace 3000 ms)`)
    const leftovers = walk(dataDir).filter((f) => f.endsWith('.tmp') || f.includes(`${path.sep}incoming${path.sep}`))
    t.same(leftovers, [], 'no half-written files')

    const second = await startServerProcess(env)
    t.teardown(() => second.stop('SIGKILL'))
    const expected = load.acked.flatMap((s) => s.jobs.map((j) => `<${j.id}@deckhand.local>`))
    await waitFor(
      'every acknowledged mail',
      () => expected.every((id) => smtp.received.some((m) => m.messageId === id)),
      60_000,
      100,
    )
    t.pass(`all ${expected.length} mails of ${load.acked.length} acknowledged signups delivered`)
    const job = await waitFor(
      'the upload accepted during shutdown to finish',
      async () => {
        const res = await fetch(`${second.url}/jobs/${jobId}`, {
          headers: { authorization: `Bearer ${uploader.token}` },
        })
        const view = (await res.json()) as { status: string }
        return ['succeeded', 'failed'].includes(view.status) && view
      },
      30_000,
    )
    t.equal(job.status, 'succeeded')
    t.equal(await second.stop('SIGTERM'), 0)
  },
)
