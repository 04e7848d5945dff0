import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { signup, startApp, uploadRaw } from '../helpers/app.ts'
import { waitFor } from '../helpers/wait.ts'

/** A small tmpfs of our own, so the test can fill a real disk; mounting needs root, as CI has. */
function mountSmallDisk(): string | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-disk-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'ignore' })
    return dir
  } catch {
    fs.rmdirSync(dir)
    return undefined
  }
}

const disk = mountSmallDisk()
const why = 'filling a real disk needs a small tmpfs, and mounting one needs root (CI runs as root)'
if (!disk && process.env.REQUIRE_SERVICES === '1') {
  t.fail(`REQUIRE_SERVICES=1 but ${why}`)
} else if (!disk) {
  t.test('a full DATA_DIR', { skip: why }, async () => {})
} else {
  t.teardown(() => {
    execFileSync('umount', ['-l', disk])
    fs.rmdirSync(disk)
  })

  /** Fills the disk, then frees `leave` bytes; returns the filler's path. */
  const fill = (leave: number) => {
    const filler = path.join(disk, 'filler')
    const fd = fs.openSync(filler, 'w')
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(16 * 1024))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
    } finally {
      fs.closeSync(fd)
    }
    fs.truncateSync(filler, Math.max(0, fs.statSync(filler).size - leave))
    return filler
  }

  t.test('a full DATA_DIR: uploads and signups get 503 STORAGE_UNAVAILABLE, never a 500', async (t) => {
    const dataDir = path.join(disk, 'full')
    const app = await startApp(t, { DATA_DIR: dataDir, MIN_FREE_DISK_BYTES: '0' })
    const ann = await signup(app, 'ann@example.com')
    const filler = fill(0)
    t.teardown(() => fs.rmSync(filler, { force: true }))

    const upload = await uploadRaw(app, ann, 'photo-12mp.jpg')
    t.equal(upload.statusCode, 503)
    t.equal(upload.json().code, 'STORAGE_UNAVAILABLE')
    t.equal(upload.headers['retry-after'], '30')
    const incoming = path.join(dataDir, 'uploads', 'incoming')
    t.same(fs.existsSync(incoming) ? fs.readdirSync(incoming) : [], [], 'no partial upload left behind')
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ method: 'POST', url: '/signup', payload: { email: `full${i}@example.com` } })
      t.ok([201, 503].includes(res.statusCode), `signup while full: ${res.statusCode}`)
      if (res.statusCode === 503) t.equal(res.json().code, 'STORAGE_UNAVAILABLE')
    }
    t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'the process is up')
    fs.rmSync(filler)
    t.equal((await uploadRaw(app, ann, 'photo-exif.jpg')).statusCode, 202, 'uploads work again once there is room')
  })

  t.test(
    'work acknowledged before the disk filled waits while it is full and finishes once there is room',
    async (t) => {
      const dataDir = path.join(disk, 'acked')
      const first = await startApp(t, { DATA_DIR: dataDir, MIN_FREE_DISK_BYTES: '0' })
      const ann = await signup(first, 'ann@example.com')
      await first.runner?.stop(0) // the job waits in the journal, as after a crash
      const accepted = await uploadRaw(first, ann, 'photo-12mp.jpg')
      t.equal(accepted.statusCode, 202)
      const { jobId } = accepted.json()
      await first.close()

      const filler = fill(96 * 1024) // room for the database to open, not for the avatar's files
      t.teardown(() => fs.rmSync(filler, { force: true }))
      const again = await startApp(t, { DATA_DIR: dataDir, MIN_FREE_DISK_BYTES: '0', MAX_ATTEMPTS: '100' })
      // While the disk is full the journal cannot record a claim or an outcome: the job waits, it is not dropped.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      const waiting = await again.queue.get(jobId)
      t.ok(waiting && ['queued', 'running'].includes(waiting.status), `still pending while full: ${waiting?.status}`)
      t.equal((await again.inject({ url: '/healthz' })).statusCode, 200, 'the process is up')
      fs.rmSync(filler)
      const done = await waitFor('the job to finish once there is room', async () => {
        const job = await again.queue.get(jobId)
        return job && ['succeeded', 'failed'].includes(job.status) && job
      })
      t.equal(done.status, 'succeeded', `succeeded after ${done.attempts} attempts`)
      t.equal((await again.inject({ url: `/users/${ann.id}/avatar?size=64` })).statusCode, 200)
    },
  )
}
