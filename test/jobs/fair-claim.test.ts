import t, { type Test } from 'tap'
import { type Database, transact } from '../../src/db/database.ts'
import { createDbJournal } from '../../src/jobs/db-journal.ts'
import type { Journal } from '../../src/jobs/types.ts'
import { openTempDatabase } from '../helpers/database.ts'
import { openScratchDatabase, scaledEnv, servicesAvailable } from '../helpers/services.ts'

/*
 * The journal's fair dispatch (src/jobs/fair-rank.ts), on SQLite and PostgreSQL: an owner with one job waits behind
 * about one job of each other owner with a backlog, not behind the backlogs; each owner's jobs run in their order.
 * Claimed one at a time, as a lane with one slot claims, with and without a per-owner share (the webhooks lane's).
 */
const AVATAR = 'avatar.render'
const WEBHOOK = 'webhook.delivery'

async function enqueueEach(database: Database, journal: Journal, kind: string, ownerId: string, n: number) {
  const ids: string[] = []
  // One transaction each, as uploads come.
  for (let i = 0; i < n; i++) {
    const [job] = await transact(database, (tx) => journal.enqueue(tx, [{ kind, ownerId, payload: { i } }]))
    ids.push(job?.id as string)
  }
  return ids
}

/** Claims one job at a time and finishes it, until the kind is drained; the ids in the order they were claimed. */
async function drainOneByOne(journal: Journal, kind: string, shared: boolean) {
  const order: { id: string; ownerId: string }[] = []
  for (;;) {
    const share = shared ? { perOwner: 1, running: new Map<string, number>() } : undefined
    const [job] = await journal.claim([kind], 1, Date.now() + 1000, share)
    if (!job) return order
    order.push({ id: job.id, ownerId: job.ownerId })
    await journal.succeed(job.id, null, Date.now())
  }
}

async function newcomerGoesNearTheFront(t: Test, database: Database, kind: string, shared: boolean) {
  const journal = createDbJournal(database, { fairKinds: [kind] })
  const ann = await enqueueEach(database, journal, kind, 'ann', 30)
  const cat = await enqueueEach(database, journal, kind, 'cat', 20)
  // Ann's first job is under way when bob comes.
  const share = shared ? { perOwner: 1, running: new Map<string, number>() } : undefined
  const [running] = await journal.claim([kind], 1, Date.now() + 1000, share)
  t.equal(running?.id, ann[0], "the backlog's first job runs first")
  await enqueueEach(database, journal, kind, 'bob', 1)

  const order = await drainOneByOne(journal, kind, shared)
  const bobAt = order.findIndex((job) => job.ownerId === 'bob')
  t.ok(bobAt >= 0 && bobAt <= 2, `bob's one job is claimed after at most one job of each other owner (at ${bobAt})`)
  t.same(
    order.filter((job) => job.ownerId === 'ann').map((job) => job.id),
    ann.slice(1),
    "all of ann's other jobs run, in her order",
  )
  t.same(
    order.filter((job) => job.ownerId === 'cat').map((job) => job.id),
    cat,
    "all of cat's jobs run, in his order",
  )
  // Round robin while both have a backlog: neither runs two in a row while the other waits.
  const head = order.slice(bobAt + 1, bobAt + 21).map((job) => job.ownerId)
  t.ok(
    head.every((owner, i) => i === 0 || owner !== head[i - 1]),
    `ann and cat take turns while both wait: ${head.join(' ')}`,
  )
}

async function unrankedKindsStayFirstComeFirstServed(t: Test, database: Database) {
  const journal = createDbJournal(database, { fairKinds: [AVATAR] })
  const mail = 'mail.welcome'
  const ann = await enqueueEach(database, journal, mail, 'ann', 5)
  const bob = await enqueueEach(database, journal, mail, 'bob', 1)
  // Read while queued: a succeeded job leaves `jobs` (migration 0010).
  const row = await database.db
    .selectFrom('jobs')
    .select('fair_rank')
    .where('id', '=', bob[0] as string)
    .executeTakeFirst()
  const order = await drainOneByOne(journal, mail, false)
  t.same(
    order.map((job) => job.id),
    [...ann, ...bob],
    'a kind that is not fair runs in arrival order',
  )
  t.same(row, { fair_rank: null }, 'and its jobs carry no rank')
}

for (const [name, kind, shared] of [
  ['images (no share)', AVATAR, false],
  ['webhooks (a share of one per owner)', WEBHOOK, true],
] as const) {
  t.test(`SQLite, ${name}: a newcomer waits behind one job of each backlog, not the backlogs`, async (t) => {
    await newcomerGoesNearTheFront(t, await openTempDatabase(t), kind, shared)
  })
  t.test(`PostgreSQL, ${name}: a newcomer waits behind one job of each backlog, not the backlogs`, async (t) => {
    if (!(await servicesAvailable(t))) return
    await newcomerGoesNearTheFront(t, await openScratchDatabase(t, await scaledEnv(t)), kind, shared)
  })
}

t.test('SQLite: kinds that are not fair keep their arrival order', async (t) => {
  await unrankedKindsStayFirstComeFirstServed(t, await openTempDatabase(t))
})
