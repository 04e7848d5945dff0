import fs from 'node:fs'
import t from 'tap'
import { fastEnv, fixture, type SignedUp, signup, tempDataDir } from '../helpers/app.ts'
import { fillImageLane } from '../helpers/image-lane.ts'
import { startServerProcess } from '../helpers/server-process.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { checkOrder, openEventStream } from '../helpers/sse.ts'

/*
 * GET /jobs/:id/events against real server processes: embedded (one process, the SQLite journal's own events),
 * and scaled out (`deckhand api` and `deckhand worker` as separate processes, each with its own DATA_DIR: the
 * stream on the api hears of a job the worker runs only through BullMQ's queue events). POLL_INTERVAL_MS is a
 * minute, so no event can come from the stream's fallback look.
 */
const modes: Record<string, (t: Parameters<typeof scaledEnv>[0]) => Promise<Record<string, string> | undefined>> = {
  'embedded: one process, the SQLite journal': async () => ({}),
  'scaled out: an api and a worker process, BullMQ and PostgreSQL': async (t) =>
    (await servicesAvailable(t)) ? { ...(await scaledEnv(t)), STORAGE_DIR: tempDataDir(t) } : undefined,
}

for (const [mode, environment] of Object.entries(modes)) {
  t.test(mode, async (t) => {
    const env = await environment(t)
    if (!env) return
    const common = { ...fastEnv, ...env, POLL_INTERVAL_MS: '60000', POOL_THREADS: '1', LOG_LEVEL: 'info' }
    const start = async (role?: 'api' | 'worker') => {
      const proc = await startServerProcess({ ...common, DATA_DIR: tempDataDir(t) }, role)
      t.teardown(() => proc.child.kill('SIGKILL'))
      return proc
    }
    const scaled = env.QUEUE === 'bullmq'
    const api = await start(scaled ? 'api' : undefined)
    if (scaled) await start('worker')

    const auth = (user: SignedUp) => ({ authorization: `Bearer ${user.token}` })
    const upload = async (user: SignedUp, name: string) => {
      const res = await fetch(`${api.url}/users/${user.id}/avatar`, {
        method: 'PUT',
        headers: { ...auth(user), 'content-type': 'image/jpeg' },
        body: fs.readFileSync(fixture(name)),
      })
      if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`)
      return ((await res.json()) as { jobId: string }).jobId
    }

    t.test('a good image and a broken one, each followed to its end', async (t) => {
      const ann = await signup(api.url, 'ann@example.com')
      const follow = (id: string) => openEventStream(`${api.url}/jobs/${id}/events`, auth(ann))
      const [first] = await fillImageLane(1, () => upload(ann, 'photo-12mp.jpg'))
      const good = await upload(ann, 'photo-exif.jpg')
      // Followed at once, while the first two hold the lane: opened after a third upload, a stream had missed
      // `queued` and `running` on a CI machine busy enough that the first image was made in between.
      const goodStream = await follow(good)
      const broken = await upload(ann, 'truncated.jpg')
      const [brokenStream, firstStream] = await Promise.all([follow(broken), follow(first)])
      await Promise.all([goodStream.ended, brokenStream.ended, firstStream.ended])
      const ids = goodStream.events.map((e) => e.id)
      t.same(ids, ['queued', 'running', 'running.resizing', 'running.publishing', 'succeeded'], `good: ${ids}`)
      checkOrder(t, goodStream.events, 'succeeded')
      const view = await (await fetch(`${api.url}/jobs/${good}`, { headers: auth(ann) })).json()
      t.same(goodStream.events.at(-1)?.data, view, 'the final event is the body of GET /jobs/:id')
      checkOrder(t, brokenStream.events, 'failed')
      t.equal(
        (brokenStream.events.at(-1)?.data as { error?: { code: string } } | undefined)?.error?.code,
        'IMAGE_UNDECODABLE',
      )
      checkOrder(t, firstStream.events, 'succeeded')
    })

    t.test('reconnect with Last-Event-ID while the job waits: the next events, none repeated', async (t) => {
      const bob = await signup(api.url, 'bob@example.com')
      const [first] = await fillImageLane(1, () => upload(bob, 'photo-12mp.jpg'))
      const second = await upload(bob, 'photo-exif.jpg')
      const one = await openEventStream(`${api.url}/jobs/${second}/events`, auth(bob))
      const [seen] = await one.waitForEvents(1)
      one.close()
      const two = await openEventStream(`${api.url}/jobs/${second}/events`, {
        ...auth(bob),
        'last-event-id': seen?.id ?? '',
      })
      await two.ended
      t.not(two.events[0]?.id, seen?.id, `${seen?.id} is not sent again`)
      checkOrder(t, two.events, 'succeeded')
      const done = await openEventStream(`${api.url}/jobs/${first}/events`, auth(bob))
      await done.ended
      t.same(
        done.events.map((e) => e.id),
        ['succeeded'],
        'a finished job: its final event at once',
      )
    })

    t.test('SIGTERM ends an open stream and the process exits 0', async (t) => {
      const cat = await signup(api.url, 'cat@example.com')
      await upload(cat, 'photo-12mp.jpg')
      const waiting = await upload(cat, 'photo-12mp.jpg')
      const stream = await openEventStream(`${api.url}/jobs/${waiting}/events`, auth(cat))
      await stream.waitForEvents(1)
      const code = await api.stop('SIGTERM', 15_000)
      await stream.ended
      t.equal(code, 0, 'clean exit')
    })
  })
}
