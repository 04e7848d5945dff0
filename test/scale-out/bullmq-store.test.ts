import pino from 'pino'
import t from 'tap'
import { createBullStore } from '../../src/jobs/bullmq-store.ts'
import { watchErrorsQuietly } from '../helpers/app.ts'
import { openScratchDatabase, scaledEnv, servicesAvailable } from '../helpers/services.ts'

t.test('the BullMQ store counts a job still in the outbox as queued, per kind', async (t) => {
  if (!(await servicesAvailable(t))) return
  const env = await scaledEnv(t)
  const database = await openScratchDatabase(t, env)
  // No relay: what is written to the outbox stays there for this look.
  const store = createBullStore(database, {
    redisUrl: env.REDIS_URL as string,
    prefix: env.QUEUE_PREFIX as string,
    kinds: ['mail.welcome', 'image.avatar'],
    maxAttempts: 1,
    keepSucceededMs: 0,
    keepFailedMs: 0,
    relayIntervalMs: 0,
    timeoutMs: 2000,
    log: pino({ level: 'silent' }),
    watchErrors: watchErrorsQuietly,
  })
  t.teardown(() => store.close())
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
