import { type Queue, UnrecoverableError, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import pino from 'pino'
import t from 'tap'
import { ownerSetKey } from '../../src/jobs/bullmq/owner-pending.ts'
import { createBullStore } from '../../src/jobs/bullmq/store.ts'
import { watchErrorsQuietly } from '../helpers/app.ts'
import { openScratchDatabase, scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { waitFor } from '../helpers/wait.ts'

type StoreOptions = Parameters<typeof createBullStore>[1]

/** A BullMQ store on the test's own prefix, with no relay (rows written to the outbox stay there), closed at the end. */
function openStore(
  t: { teardown(fn: () => unknown): void },
  env: Record<string, string>,
  database: Parameters<typeof createBullStore>[0],
  options: Partial<StoreOptions> & Pick<StoreOptions, 'kinds'>,
) {
  const store = createBullStore(database, {
    redisUrl: env.REDIS_URL as string,
    prefix: env.QUEUE_PREFIX as string,
    maxAttempts: 1,
    keepSucceededMs: 0,
    keepFailedMs: 0,
    relayIntervalMs: 0,
    timeoutMs: 5000,
    log: pino({ level: 'silent' }),
    watchErrors: watchErrorsQuietly,
    ...options,
  })
  t.teardown(() => store.close())
  return store
}

t.test('the BullMQ store counts a job still in the outbox as queued, per kind', async (t) => {
  if (!(await servicesAvailable(t))) return
  const env = await scaledEnv(t)
  const database = await openScratchDatabase(t, env)
  // No relay: what is written to the outbox stays there for this look.
  const store = openStore(t, env, database, { kinds: ['mail.welcome', 'image.avatar'] })
  t.ok(await store.connected(2000), 'connected to Redis')
  const row = (kind: string) => ({
    id: crypto.randomUUID(),
    kind,
    owner_id: 'o',
    payload: '{}',
    created_at: Date.now(),
  })
  await database.db
    .insertInto('outbox')
    .values([row('mail.welcome'), row('mail.welcome'), row('image.avatar')])
    .execute()
  const depth = await store.depth()
  t.same(
    depth.sort((a, b) => a.kind.localeCompare(b.kind)),
    [
      { kind: 'image.avatar', status: 'queued', count: 1 },
      { kind: 'mail.welcome', status: 'queued', count: 2 },
    ],
  )
  t.equal(await store.pendingCount('mail.welcome'), 2, 'pending counts the outbox too')
})

t.test('a job that fails while it is being read is read with its error, not as failed without one', async (t) => {
  if (!(await servicesAvailable(t))) return
  const env = await scaledEnv(t)
  const database = await openScratchDatabase(t, env)
  const store = openStore(t, env, database, { kinds: ['mail.welcome'], keepSucceededMs: 60_000, keepFailedMs: 60_000 })
  t.ok(await store.connected(2000), 'connected to Redis')
  const queue = store.queues.get('mail.welcome') as Queue
  const id = crypto.randomUUID()
  await queue.add('mail.welcome', { ownerId: 'o', payload: {}, createdAt: Date.now() }, { jobId: id })

  // A worker that fails the job with a reason, once the test lets it.
  let release = () => {}
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  const worker = new Worker(
    'mail.welcome',
    async () => {
      await released
      throw new UnrecoverableError('the mail server refused the message: 550')
    },
    { connection: { url: env.REDIS_URL as string }, prefix: env.QUEUE_PREFIX as string },
  )
  t.teardown(() => worker.close())
  await waitFor('the job to be running', async () => (await queue.getJobState(id)) === 'active')

  // The read the store makes of the job lands while it runs; it fails before the store asks for its state.
  const getJob = queue.getJob.bind(queue)
  let reads = 0
  queue.getJob = async (jobId: string) => {
    const job = await getJob(jobId)
    if (reads++ === 0) {
      release()
      await waitFor('the job to fail', async () => (await queue.getJobState(id)) === 'failed')
    }
    return job
  }
  const job = await store.get(id)
  t.equal(job?.status, 'failed')
  t.same(job?.lastError, { code: 'INTERNAL', message: 'the mail server refused the message: 550' }, 'with its error')
  t.ok(job?.finishedAt, 'and when it finished')
})

t.test('an outbox row of a kind this process does not know waits, and never blocks the rows behind it', async (t) => {
  if (!(await servicesAvailable(t))) return
  const env = await scaledEnv(t)
  const database = await openScratchDatabase(t, env)
  // A rolling deploy: a newer process committed a job of a kind this one has no queue for, before older work.
  const now = Date.now()
  const row = (kind: string, at: number) => ({
    id: crypto.randomUUID(),
    kind,
    owner_id: 'o',
    payload: '{}',
    created_at: at,
  })
  const unknown = row('banner.render', now - 1000)
  const known = Array.from({ length: 3 }, (_, i) => row('mail.welcome', now + i))
  await database.db
    .insertInto('outbox')
    .values([unknown, ...known])
    .execute()
  const store = openStore(t, env, database, { kinds: ['mail.welcome'], relayIntervalMs: 50 })
  t.ok(await store.connected(2000), 'connected to Redis')
  const left = async () => (await database.db.selectFrom('outbox').select('id').execute()).map((r) => r.id)
  await waitFor('the known rows to be relayed', async () => (await left()).length === 1, 5000)
  t.same(await left(), [unknown.id], 'the unknown row stays in the outbox, for a process that knows its kind')
  const queue = store.queues.get('mail.welcome') as Queue
  for (const { id } of known) t.ok(await queue.getJob(id), `${id} is in BullMQ`)
})

t.test(
  "one owner's pending count: the outbox and BullMQ once each, and no member left by a crash counts",
  async (t) => {
    if (!(await servicesAvailable(t))) return
    const env = await scaledEnv(t)
    const database = await openScratchDatabase(t, env)
    const redis = new Redis(env.REDIS_URL as string)
    t.teardown(() => redis.disconnect())
    const kind = 'image.avatar'
    const row = (owner: string) => ({ id: crypto.randomUUID(), kind, owner_id: owner, payload: '{}', created_at: 1 })
    const ann = [row('ann'), row('ann')]
    await database.db
      .insertInto('outbox')
      .values([...ann, row('bob')])
      .execute()
    const store = openStore(t, env, database, { kinds: [kind] })
    t.ok(await store.connected(2000), 'connected to Redis')
    t.equal(await store.pendingCountOf(kind, 'ann'), 2, 'in the outbox')
    t.equal(await store.pendingCountOf(kind, 'bob'), 1)
    t.equal(await store.pendingCountOf(kind, 'cid'), 0)

    // A crash between hand-over and the outbox row's delete: the job is in BullMQ and in the outbox.
    const annSet = ownerSetKey(env.QUEUE_PREFIX as string, kind, 'ann')
    const queue = store.queues.get(kind) as Queue
    const [first] = ann as [ReturnType<typeof row>]
    await queue.add(kind, { ownerId: 'ann', payload: {}, createdAt: 1 }, { jobId: first.id })
    await redis.sadd(annSet, first.id)
    t.equal(await store.pendingCountOf(kind, 'ann'), 2, 'a job in both places counts once')

    // The relay finishes the hand-over; then a worker dies before it takes a finished job out of the set, and a
    // job removed by retention leaves its id behind.
    const relay = openStore(t, env, database, { kinds: [kind], relayIntervalMs: 50 })
    await waitFor(
      'the outbox relayed',
      async () => (await database.db.selectFrom('outbox').selectAll().execute()).length === 0,
    )
    t.equal(await store.pendingCountOf(kind, 'ann'), 2, 'handed over, counted from her set')
    t.equal(await store.pendingCountOf(kind, 'bob'), 1, 'and his from his')
    await relay.close()
    await redis.sadd(annSet, 'a-job-long-gone')
    const worker = new Worker(kind, async () => 'done', {
      connection: { url: env.REDIS_URL },
      prefix: env.QUEUE_PREFIX,
    })
    t.teardown(() => worker.close())
    await waitFor('their jobs done', async () => (await queue.getCompletedCount()) === 3)
    t.equal(
      await store.pendingCountOf(kind, 'ann'),
      0,
      'finished and vanished jobs are not counted: she is not locked out',
    )
    t.same(await redis.smembers(annSet), [], 'and her set is emptied by the count')
    t.equal(await store.pendingCountOf(kind, 'bob'), 0)
  },
)
