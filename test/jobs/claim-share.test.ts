import t, { type Test } from 'tap'
import { type Database, transact } from '../../src/db/database.ts'
import { createDbJournal } from '../../src/jobs/db-journal.ts'
import type { Job, Journal } from '../../src/jobs/types.ts'
import { openTempDatabase } from '../helpers/database.ts'
import { openScratchDatabase, scaledEnv, servicesAvailable } from '../helpers/services.ts'

/*
 * The journal's claim with a per-owner share (Lane.perOwner), on SQLite and PostgreSQL: owners at their share are
 * passed over however long their backlog ahead of others, and one claim gives no owner more than what it has left.
 */
const KIND = 'webhook.delivery'

async function enqueue(database: Database, journal: Journal, ownerId: string, n: number) {
  await transact(database, (tx) =>
    journal.enqueue(
      tx,
      Array.from({ length: n }, () => ({ kind: KIND, ownerId, payload: {} })),
    ),
  )
}

const byOwner = (jobs: Job[]) => {
  const out: Record<string, number> = {}
  for (const job of jobs) out[job.ownerId] = (out[job.ownerId] ?? 0) + 1
  return out
}

async function shares(t: Test, database: Database) {
  const journal = createDbJournal(database)
  // A long backlog of one owner first, then two others: in claim order, ann's jobs come first.
  await enqueue(database, journal, 'ann', 60)
  await enqueue(database, journal, 'bob', 3)
  await enqueue(database, journal, 'cat', 1)
  const now = Date.now() + 1000

  const first = await journal.claim([KIND], 5, now, { perOwner: 2, running: new Map() })
  t.same(byOwner(first), { ann: 2, bob: 2, cat: 1 }, 'one claim: two each at most, past the backlog of ann')
  const running = new Map(Object.entries(byOwner(first)))
  t.same(await journal.claim([KIND], 5, now, { perOwner: 2, running }), [], 'everyone at the share: nothing')

  running.set('ann', 1)
  running.set('bob', 1)
  const second = await journal.claim([KIND], 5, now, { perOwner: 2, running })
  t.same(byOwner(second), { ann: 1, bob: 1 }, 'what each has left of the share, no more')
  t.ok(
    [...first, ...second].every((job) => job.status === 'running' && job.attempts === 1),
    'claimed as running, an attempt counted',
  )
  t.equal((await journal.claim([KIND], 3, now)).length, 3, 'without a share, the lane takes what it has room for')
}

t.test('SQLite: a claim keeps to each owner’s share', async (t) => {
  await shares(t, await openTempDatabase(t))
})

t.test('PostgreSQL: a claim keeps to each owner’s share', async (t) => {
  if (!(await servicesAvailable(t))) return
  await shares(t, await openScratchDatabase(t, await scaledEnv(t)))
})

t.test('PostgreSQL: claims with a share at the same time never take the same job', async (t) => {
  if (!(await servicesAvailable(t))) return
  const env = await scaledEnv(t)
  const [a, b] = [await openScratchDatabase(t, env), await openScratchDatabase(t, env)] as const
  const journals = [createDbJournal(a), createDbJournal(b)]
  for (let i = 0; i < 20; i++) await enqueue(a, journals[0] as Journal, `owner-${i}`, 3)
  const now = Date.now() + 1000
  const claims = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      (journals[i % 2] as Journal).claim([KIND], 6, now, { perOwner: 2, running: new Map() }),
    ),
  )
  const ids = claims.flat().map((job) => job.id)
  t.equal(new Set(ids).size, ids.length, `${ids.length} jobs claimed, each once`)
  t.ok(ids.length > 0)
})
