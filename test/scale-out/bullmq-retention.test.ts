import { UnrecoverableError, Worker } from 'bullmq'
import pino from 'pino'
import t from 'tap'
import { transact } from '../../src/db/database.ts'
import { createBullStore } from '../../src/jobs/bullmq/store.ts'
import { retentionTask } from '../../src/jobs/retention.ts'
import { watchErrorsQuietly } from '../helpers/app.ts'
import { openScratchDatabase, scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { waitFor } from '../helpers/wait.ts'

const HOUR = 3_600_000
const log = pino({ level: 'silent' })

t.test('QUEUE=bullmq: retention ages on every job, and a timed clean empties an idle queue', async (t) => {
  if (!(await servicesAvailable(t))) return
  const env = await scaledEnv(t)
  const redisUrl = env.REDIS_URL as string
  const prefix = env.QUEUE_PREFIX as string
  const database = await openScratchDatabase(t, env)
  const store = createBullStore(database, {
    redisUrl,
    prefix,
    kinds: ['mail.welcome'],
    maxAttempts: 1,
    keepSucceededMs: HOUR,
    keepFailedMs: 0,
    watchErrors: watchErrorsQuietly,
    relayIntervalMs: 0,
    timeoutMs: 2000,
    log,
  })
  t.teardown(() => store.close())
  t.ok(await store.connected(2000), 'connected to Redis')
  const queue = store.queues.get('mail.welcome')
  t.same(
    [queue?.defaultJobOptions.removeOnComplete, queue?.defaultJobOptions.removeOnFail],
    [{ age: 3600 }, false],
    'JOB_RETENTION_MS in seconds; FAILED_JOB_RETENTION_MS=0 keeps failed jobs',
  )

  // Five jobs succeed and two fail; then the queue is idle, so BullMQ's own removal never comes.
  const ids = await transact(database, (tx) =>
    store.enqueue(
      tx,
      Array.from({ length: 7 }, (_, i) => ({ kind: 'mail.welcome', ownerId: 'o', payload: { fail: i >= 5 } })),
    ),
  )
  const worker = new Worker(
    'mail.welcome',
    async (job) => {
      if ((job.data.payload as { fail: boolean }).fail) throw new UnrecoverableError('no')
      return 'sent'
    },
    { connection: { url: redisUrl }, prefix },
  )
  t.teardown(() => worker.close())
  const finished = async () => {
    const jobs = await Promise.all(ids.map((j) => store.get(j.id)))
    return jobs.filter((j) => j?.status === 'succeeded' || j?.status === 'failed').length
  }
  await waitFor('seven finished jobs', async () => (await finished()) === 7)
  t.equal(await store.deleteFinished('succeeded', Date.now() + 1000, 2), 2, 'a batch is bounded by its limit')
  t.equal((await store.depth()).find((d) => d.status === 'succeeded')?.count, 3)
  const swept: Record<string, number> = {}
  // A retention of 1 ms for succeeded jobs: all of them are past it; failed ones are kept (0).
  await retentionTask({
    store,
    keepSucceededMs: 1,
    keepFailedMs: 0,
    log,
    batchSize: 2,
    onSwept: (status, n) => {
      swept[status] = (swept[status] ?? 0) + n
    },
  }).run(() => false)
  t.same(swept, { succeeded: 3 })
  t.same(
    (await store.depth()).map((d) => [d.status, d.count]),
    [['failed', 2]],
  )
  const failedId = ids[5]?.id as string
  t.equal((await store.listAll('mail.welcome', ['failed'])).length, 2, 'failed jobs are listed with their payloads')
  await retentionTask({ store, keepSucceededMs: 0, keepFailedMs: 1, log }).run(() => false)
  t.equal(await store.get(failedId), undefined, 'a swept failed job is gone')
  t.same(await store.depth(), [])
})
