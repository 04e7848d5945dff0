import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { type SignedUp, signup, startApp, uploadRaw, waitForJob } from '../helpers/app.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { openEventStream } from '../helpers/sse.ts'
import { waitFor } from '../helpers/wait.ts'
import { type Delivery, type Receiver, startReceiver } from '../helpers/webhook-receiver.ts'

/*
 * Each user's share of the webhook lane (WEBHOOK_CONCURRENCY_PER_USER), on both backends: receivers that take
 * the connection and never answer hold only their owners' slots, so another user's delivery goes out as soon as
 * its avatar is ready, not after WEBHOOK_TIMEOUT_MS.
 */
const open = { WEBHOOK_ALLOW_INSECURE: 'true', WEBHOOK_ALLOW_PRIVATE: 'true' }
const auth = (user: SignedUp) => ({ authorization: `Bearer ${user.token}` })
const TIMEOUT_MS = 30_000
/** How late the good user's delivery may be after its avatar is ready: a busy shared machine, far below the timeout. */
const PROMPT_MS = 2000

async function subscribed(app: FastifyInstance, receiver: Receiver, email: string) {
  const user = await signup(app, email)
  const res = await app.inject({
    method: 'PUT',
    url: `/users/${user.id}/webhook`,
    headers: auth(user),
    payload: { url: `${receiver.url}/hook` },
  })
  if (res.statusCode !== 200) throw new Error(`PUT webhook: ${res.statusCode} ${res.body}`)
  receiver.secret = res.json().secret
  return user
}

async function upload(app: FastifyInstance, user: SignedUp) {
  const res = await uploadRaw(app, user, 'photo-exif.jpg')
  if (res.statusCode !== 202) throw new Error(`upload: ${res.statusCode} ${res.body}`)
  return res.json().jobId as string
}

/** A receiver that takes every delivery in and never answers. */
async function silentReceiver(t: Parameters<typeof startReceiver>[0]) {
  const receiver = await startReceiver(t)
  receiver.answers.push(...Array.from({ length: 50 }, () => 'hang' as const))
  return receiver
}

const backends: Record<string, (t: Parameters<typeof scaledEnv>[0]) => Promise<Record<string, string> | undefined>> = {
  journal: async () => ({}),
  'bullmq + postgres': async (t) => ((await servicesAvailable(t)) ? scaledEnv(t) : undefined),
}

for (const [backend, envOf] of Object.entries(backends)) {
  t.test(`${backend}: silent receivers hold only their owners' share of the lane`, async (t) => {
    const env = await envOf(t)
    if (!env) return
    // Five slots, two a user: two users with silent receivers and three deliveries each hold four; all five
    // without the share, the sixth waiting behind them.
    const app = await startApp(t, {
      ...env,
      ...open,
      WEBHOOK_CONCURRENCY: '5',
      WEBHOOK_CONCURRENCY_PER_USER: '2',
      WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    })
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    const silent = [await silentReceiver(t), await silentReceiver(t)] as const
    const mutes = [await subscribed(app, silent[0], 'mute1@example.com')]
    mutes.push(await subscribed(app, silent[1], 'mute2@example.com'))
    const avatars = await Promise.all(
      mutes.flatMap((mute) => [1, 2, 3].map(async () => [mute, await upload(app, mute)])),
    )
    for (const [mute, id] of avatars as [SignedUp, string][]) await waitForJob(app, mute, id)
    // Their silent receivers hold four deliveries open: two each with the share, any four without it.
    await waitFor('four deliveries held open', () => silent[0].deliveries.length + silent[1].deliveries.length >= 4)

    const good = await startReceiver(t)
    const ann = await subscribed(app, good, 'ann@example.com')
    const avatar = await waitForJob(app, ann, await upload(app, ann))
    t.equal(avatar.status, 'succeeded')
    let late: number | undefined
    try {
      const [delivery] = await good.waitFor(1, 10_000)
      late = (delivery?.at ?? 0) - Date.parse(avatar.finishedAt)
    } catch {}
    t.ok(
      late !== undefined && late < PROMPT_MS,
      late === undefined
        ? 'the good receiver got nothing within 10 s of the avatar: the silent ones hold every slot'
        : `delivered ${late} ms after the avatar was ready (WEBHOOK_TIMEOUT_MS is ${TIMEOUT_MS})`,
    )
    // A delivery past its owner's share waits as queued, no attempt counted, for as long as the share is full.
    const deferred = await waitFor('a third delivery of a silent user, queued', async () => {
      const queued = await app.queue.list({ status: 'queued', kind: 'webhook.delivery', limit: 20 })
      return queued.find((job) => job.ownerId === mutes[0]?.id)
    })
    const stream = await openEventStream(`${url}/jobs/${deferred.id}/events`, auth(mutes[0] as SignedUp))
    const views = new Set<string>()
    for (let i = 0; i < 15; i++) {
      const res = await app.inject({ url: `/jobs/${deferred.id}`, headers: auth(mutes[0] as SignedUp) })
      const { status, attempts } = res.json()
      views.add(`${status}, ${attempts} attempts`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    t.same(
      [...views],
      ['queued, 0 attempts'],
      `GET /jobs/:id of a delivery past its share: queued, no attempt (${[...views].join('; ')})`,
    )

    stream.close()
    t.same(
      stream.events.map((e) => e.event),
      ['queued'],
      'its event stream says queued, and nothing more while the share stays full',
    )
    t.equal(silent[0]?.deliveries.length, 2, "the first silent user's third delivery is still not sent")
  })
}

for (const [backend, envOf] of Object.entries(backends)) {
  t.test(`${backend}: a delivery past its owner's share waits, then goes, no attempt lost`, async (t) => {
    const env = await envOf(t)
    if (!env) return
    const app = await startApp(t, {
      ...env,
      ...open,
      WEBHOOK_CONCURRENCY: '4',
      WEBHOOK_CONCURRENCY_PER_USER: '1',
      WEBHOOK_TIMEOUT_MS: '1500',
    })
    // The first delivery is taken in and never answered; the first share's slot frees when it times out.
    const receiver = await startReceiver(t)
    receiver.answers.push('hang')
    const bea = await subscribed(app, receiver, 'bea@example.com')
    for (const id of [await upload(app, bea), await upload(app, bea)]) await waitForJob(app, bea, id)
    const all = await receiver.waitFor(3, 20_000)
    const [first, second] = all as [Delivery, Delivery, Delivery]
    // Only its timeout closes the first one's connection (the receiver never answers it), and the receiver sees that
    // close before any request sent after it. Counted from the first's arrival instead, the wait is the timeout less
    // however late that request reached the receiver (its timer starts before it connects): on a busy machine,
    // more than the 100 ms a bound of 1400 ms left.
    t.ok(
      first.closedAt !== undefined && second.at >= first.closedAt,
      `nothing more went while the first held the share: the next came ${second.at - (first.closedAt ?? NaN)} ms after it was closed`,
    )
    const held = (first.closedAt ?? 0) - first.at
    t.ok(
      held >= 1000 && held < 10_000,
      `the first was held until its timeout (1500 ms): closed ${held} ms after it came`,
    )
    const ids = [...new Set(all.map((d) => d.headers['webhook-id'] as string))]
    t.equal(ids.length, 2, 'both deliveries went, the hung one twice')
    const jobs = await Promise.all(ids.map((id) => waitForJob(app, bea, id)))
    t.same(
      jobs.map((j) => [j.id === first?.headers['webhook-id'] ? 'hung' : 'waited', j.status, j.attempts]).sort(),
      [
        ['hung', 'succeeded', 2],
        ['waited', 'succeeded', 1],
      ],
      'the one that waited its turn spent one attempt',
    )
  })
}
