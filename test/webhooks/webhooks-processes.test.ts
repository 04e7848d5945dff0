import fs from 'node:fs'
import t from 'tap'
import { fastEnv, fixture, type SignedUp, signup, tempDataDir } from '../helpers/app.ts'
import { startServerProcess } from '../helpers/server-process.ts'
import { scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { waitFor } from '../helpers/wait.ts'
import { type Receiver, startReceiver } from '../helpers/webhook-receiver.ts'

/*
 * Webhooks with the real server as its own process: killed mid-delivery and restarted (the delivery comes after
 * the restart, with the same webhook-id), and scaled out (the delivery queued and sent by a worker process,
 * through BullMQ, the webhook set through the api).
 */
const open = { WEBHOOK_ALLOW_INSECURE: 'true', WEBHOOK_ALLOW_PRIVATE: 'true', LOG_LEVEL: 'info' }
const auth = (user: SignedUp) => ({ authorization: `Bearer ${user.token}` })

async function subscribe(url: string, user: SignedUp, receiver: Receiver) {
  const res = await fetch(`${url}/users/${user.id}/webhook`, {
    method: 'PUT',
    headers: { ...auth(user), 'content-type': 'application/json' },
    body: JSON.stringify({ url: `${receiver.url}/hook` }),
  })
  if (res.status !== 200) throw new Error(`PUT webhook: ${res.status} ${await res.text()}`)
  receiver.secret = ((await res.json()) as { secret: string }).secret
}

async function upload(url: string, user: SignedUp, name: string) {
  const res = await fetch(`${url}/users/${user.id}/avatar`, {
    method: 'PUT',
    headers: { ...auth(user), 'content-type': 'image/jpeg' },
    body: fs.readFileSync(fixture(name)),
  })
  if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { jobId: string }).jobId
}

async function jobOf(url: string, user: SignedUp, id: string) {
  const res = await fetch(`${url}/jobs/${id}`, { headers: auth(user) })
  return (await res.json()) as { status: string; attempts: number; kind: string }
}

t.test('SIGKILL mid-delivery: delivered after the restart, with the same webhook-id', async (t) => {
  const receiver = await startReceiver(t)
  // The first delivery is taken in and never answered: the process dies while it waits.
  receiver.answers.push('hang')
  const dataDir = tempDataDir(t)
  const env = { ...fastEnv, ...open, DATA_DIR: dataDir }
  const first = await startServerProcess(env)
  t.teardown(() => first.child.kill('SIGKILL'))
  const ann = await signup(first.url, 'ann@example.com')
  await subscribe(first.url, ann, receiver)
  await upload(first.url, ann, 'photo-exif.jpg')
  const [cut] = await receiver.waitFor(1)
  t.equal(await first.stop('SIGKILL'), 'SIGKILL')

  const second = await startServerProcess(env)
  t.teardown(() => second.stop('SIGKILL'))
  const [, after] = await receiver.waitFor(2)
  t.equal(after?.headers['webhook-id'], cut?.headers['webhook-id'], 'the same webhook-id: the receiver can dedupe')
  t.ok(cut?.verified.ok && after?.verified.ok, 'both signed with the secret')
  t.equal(after?.body.length && JSON.parse(after.body).type, 'avatar.ready')
  const id = after?.headers['webhook-id'] as string
  const delivery = await waitFor('the delivery to succeed', async () => {
    const job = await jobOf(second.url, ann, id)
    return job.status === 'succeeded' && job
  })
  t.equal(delivery.kind, 'webhook.delivery')
  t.equal(receiver.deliveries.length, 2, 'at least once, and here exactly twice: the cut one and the one after')
})

t.test('scaled out: the worker process delivers, through BullMQ', async (t) => {
  if (!(await servicesAvailable(t))) return
  const receiver = await startReceiver(t)
  receiver.answers.push({ status: 503 })
  const env = { ...fastEnv, ...open, ...(await scaledEnv(t)), STORAGE_DIR: tempDataDir(t), POOL_THREADS: '1' }
  const api = await startServerProcess({ ...env, DATA_DIR: tempDataDir(t) }, 'api')
  t.teardown(() => api.child.kill('SIGKILL'))
  const worker = await startServerProcess({ ...env, DATA_DIR: tempDataDir(t) }, 'worker')
  t.teardown(() => worker.child.kill('SIGKILL'))
  const bob = await signup(api.url, 'bob@example.com')
  await subscribe(api.url, bob, receiver)
  const avatar = await upload(api.url, bob, 'photo-exif.jpg')
  const [first, second] = await receiver.waitFor(2)
  t.equal(first?.headers['webhook-id'], second?.headers['webhook-id'], 'a 503 retried with the same webhook-id')
  t.ok(first?.verified.ok && second?.verified.ok, 'signed')
  if (second?.verified.ok) {
    t.equal(second.verified.payload.type, 'avatar.ready')
    t.equal(second.verified.payload.data.id, avatar)
  }
  const delivery = await waitFor('the delivery to succeed', async () => {
    const job = await jobOf(api.url, bob, second?.headers['webhook-id'] as string)
    return job.status === 'succeeded' && job
  })
  t.equal(delivery.attempts, 2, 'the api reads the delivery from BullMQ, its attempts too')
  const metrics = await (await fetch(`${worker.url}/metrics`)).text()
  t.match(metrics, /deckhand_webhook_deliveries_total\{outcome="delivered"\} 1/, "the worker's /metrics counts it")
})
