import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { signup, startApp, storedFiles } from '../helpers/app.ts'
import { fillJobs } from '../helpers/journal.ts'

const HOUR = 3_600_000

t.test('avatar files nothing points to are swept; those a job or an avatar holds, or too young, stay', async (t) => {
  // Files are "old" past REQUEST_TIMEOUT_MS plus a minute: 61 s here; the old ones below are an hour old.
  const app = await startApp(t, {
    FAILED_JOB_RETENTION_MS: String(HOUR),
    REQUEST_TIMEOUT_MS: '1000',
    HEADERS_TIMEOUT_MS: '1000',
  })
  const { paths, database } = app
  const stored = storedFiles(app)
  const ann = await signup(app, 'ann@example.com')
  const anHourAgo = new Date(Date.now() - HOUR)
  const put = (file: string, old: boolean, folder = false) => {
    if (folder) {
      fs.mkdirSync(file, { recursive: true })
      fs.writeFileSync(path.join(file, '64.webp'), 'x')
      // A version's age is that of its newest object, as a bucket has no folders to date.
      if (old) fs.utimesSync(path.join(file, '64.webp'), anHourAgo, anHourAgo)
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, 'x')
    }
    if (old) fs.utimesSync(file, anHourAgo, anHourAgo)
    return file
  }
  const avatarJob = async (id: string, status: 'failed' | 'running', finishedAt: number | null, original: string) =>
    fillJobs(database.db, {
      count: 1,
      prefix: id,
      status,
      finishedAt,
      kind: 'image.avatar',
      ownerId: ann.id,
      payload: JSON.stringify({ userId: ann.id, seq: 1, original }),
    })
  // Ids are prefix + 1.
  await avatarJob('failed-old-', 'failed', Date.now() - 2 * HOUR, 'failed-old.jpg')
  await avatarJob('failed-young-', 'failed', Date.now(), 'failed-young.jpg')
  await avatarJob('running-', 'running', null, 'running.jpg')
  await database.db
    .insertInto('avatars')
    .values({
      user_id: ann.id,
      version: 'current',
      seq: 1,
      placeholder: '',
      dominant_color: '#000000',
      variants: '[]',
      updated_at: Date.now() - HOUR,
    })
    .execute()

  const original = (name: string, old = true) => put(stored.original(name), old)
  const version = (name: string, old = true) => put(stored.avatarVersion(ann.id, name), old, true)
  const gone = [
    original('failed-old.jpg'), // its job is past FAILED_JOB_RETENTION_MS: both go in one sweep
    original('stray.jpg'), // no job at all (a crash between the move and the commit)
    version('no-such-job'), // its job is gone
    version('failed-young-1'), // its job failed: it will never be current
    put(path.join(paths.incoming, 'abandoned'), true),
  ]
  const kept = [
    original('failed-young.jpg'), // kept for an admin's retry
    original('running.jpg'), // its job runs
    original('fresh.jpg', false), // its job may be committing right now
    version('current'),
    version('running-1'), // its job is writing it
    version('young', false),
    put(path.join(paths.incoming, 'arriving'), false),
  ]

  await app.sweeper.sweep()
  for (const file of gone) t.notOk(fs.existsSync(file), `removed: ${path.relative(stored.avatars, file)}`)
  for (const file of kept) t.ok(fs.existsSync(file), `kept: ${path.relative(stored.avatars, file)}`)
  const job = await app.queue.get('failed-old-1')
  t.equal(job, undefined, 'the old failed job went with its original')

  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, /deckhand_files_swept_total\{what="original"\} 2/)
  t.match(metrics, /deckhand_files_swept_total\{what="version"\} 2/)
  t.match(metrics, /deckhand_files_swept_total\{what="incoming"\} 1/)
  t.match(metrics, /deckhand_jobs_swept_total\{status="failed"\} 1/)
})
