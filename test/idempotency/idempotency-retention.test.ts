import pino from 'pino'
import t from 'tap'
import type { Database } from '../../src/db/database.ts'
import { createIdempotencyRecords } from '../../src/idempotency/records.ts'
import { idempotencyRetentionTask } from '../../src/idempotency/retention.ts'
import { openTempDatabase } from '../helpers/database.ts'
import { openScratchDatabase, scaledEnv, servicesAvailable } from '../helpers/services.ts'

const HOUR = 3_600_000

const databases: Record<string, (t: Parameters<typeof scaledEnv>[0]) => Promise<Database | undefined>> = {
  SQLite: (t) => openTempDatabase(t),
  PostgreSQL: async (t) => ((await servicesAvailable(t)) ? openScratchDatabase(t, await scaledEnv(t)) : undefined),
}

for (const [name, open] of Object.entries(databases)) {
  t.test(`${name}: keys past IDEMPOTENCY_TTL_MS are swept in bounded batches; younger ones stay`, async (t) => {
    const database = await open(t)
    if (!database) return
    const now = Date.now()
    const rows = (prefix: string, count: number, createdAt: number) =>
      Array.from({ length: count }, (_, i) => ({
        scope: 'signup',
        key_hash: `${prefix}${i}`,
        fingerprint: 'f',
        status: 201,
        response: '{}',
        token_salt: null,
        created_at: createdAt,
      }))
    await database.db
      .insertInto('idempotency_keys')
      .values([...rows('old', 25, now - 2 * HOUR), ...rows('young', 5, now - HOUR / 2)])
      .execute()

    const records = createIdempotencyRecords(database.db)
    const batches: number[] = []
    const task = idempotencyRetentionTask({
      records: {
        deleteExpired: async (before, limit) => {
          const deleted = await records.deleteExpired(before, limit)
          batches.push(deleted)
          return deleted
        },
      },
      ttlMs: HOUR,
      batchSize: 10,
      log: pino({ level: 'silent' }),
      clock: () => now,
    })
    await task.run(() => false)
    t.same(batches, [10, 10, 5], 'batches of at most 10, until one comes back short')
    const left = await database.db.selectFrom('idempotency_keys').select('key_hash').execute()
    t.same(left.map((r) => r.key_hash).sort(), ['young0', 'young1', 'young2', 'young3', 'young4'])
  })
}
