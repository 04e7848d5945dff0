import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import t from 'tap'
import { fastEnv, fixture, tempDataDir } from './helpers/app.ts'
import { startServerProcess } from './helpers/server-process.ts'
import { startSmtp } from './helpers/smtp.ts'
import { waitFor } from './helpers/wait.ts'

/** Every file under `dir`, recursively. */
function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name)
    return e.isDirectory() ? walk(full) : [full]
  })
}

/** An upload sent slowly, in chunks, so that it is still arriving when the server is told to stop. */
function slowUpload(url: string, user: { id: string; token: string }, bytes: Buffer, onHalfway: () => void) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(
      `${url}/users/${user.id}/avatar`,
      {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${user.token}`,
          'content-type': 'image/jpeg',
          'content-length': bytes.length,
        },
      },
      (res) => {
        let body = ''
        res.on('data', (c) => {
          body += c
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    req.on('error', reject)
    const chunks = 10
    const size = Math.ceil(bytes.length / chunks)
    let i = 0
    const next = () => {
      if (i === chunks) return req.end()
      req.write(bytes.subarray(i * size, (i + 1) * size))
      if (++i === chunks / 2) onHalfway()
      setTimeout(next, 100)
    }
    next()
  })
}

t.test(
  'SIGTERM under load: in-flight requests are answered, nothing half-written, exit 0, the rest runs after restart',
  async (t) => {
    const dataDir = tempDataDir(t)
    const smtp = await startSmtp({ delayMs: 50 })
    t.teardown(() => smtp.close())
    const env = { ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: dataDir, SMTP_URL: smtp.url, SHUTDOWN_GRACE_MS: '3000' }
    const first = await startServerProcess(env)
    t.teardown(() => first.child.kill('SIGKILL'))

    const signups: { id: string; token: string; jobs: { id: string }[] }[] = []
    let stop = false
    let n = 0
    const loop = async () => {
      while (!stop) {
        try {
          const res = await fetch(`${first.url}/signup`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email: `term${n++}@example.com` }),
          })
          if (res.status === 201) signups.push((await res.json()) as (typeof signups)[number])
        } catch {
          return // refused once the server stopped listening: never acknowledged
        }
      }
    }
    const load = Promise.all(Array.from({ length: 4 }, loop))
    await waitFor('some signups', () => signups.length >= 20)
    const uploader = signups[0] as { id: string; token: string }

    let terminatedAt = 0
    const upload = slowUpload(first.url, uploader, fs.readFileSync(fixture('photo-exif.jpg')), () => {
      terminatedAt = Date.now()
      first.child.kill('SIGTERM')
    })
    const exitedAt = first.exited.then(() => Date.now())
    const answer = await upload
    t.equal(answer.status, 202, 'the upload in flight at SIGTERM was answered in full')
    const { jobId } = JSON.parse(answer.body)
    const code = await first.exited
    stop = true
    await load
    t.equal(code, 0, 'exit code 0')
    const took = (await exitedAt) - terminatedAt
    t.ok(took < 3000 + 1000, `exited ${took} ms after SIGTERM (grace 3000 ms)`)
    const said = (msg: string) => first.logs.find((l) => l.msg === msg)?.time as number | undefined
    t.comment(
      `shutdown began ${(said('shutting down: no new requests, running jobs get the grace period') ?? 0) - terminatedAt} ms after SIGTERM`,
    )
    const leftovers = walk(dataDir).filter((f) => f.endsWith('.tmp') || f.includes(`${path.sep}incoming${path.sep}`))
    t.same(leftovers, [], 'no half-written files')

    const second = await startServerProcess(env)
    t.teardown(() => second.stop('SIGKILL'))
    const expected = signups.flatMap((s) => s.jobs.map((j) => `<${j.id}@deckhand.local>`))
    await waitFor(
      'every acknowledged mail',
      () => expected.every((id) => smtp.received.some((m) => m.messageId === id)),
      60_000,
      100,
    )
    t.pass(`all ${expected.length} mails of ${signups.length} acknowledged signups delivered`)
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
