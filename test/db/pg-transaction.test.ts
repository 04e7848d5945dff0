import net from 'node:net'
import { sql } from 'kysely'
import t from 'tap'
import { scratchState } from '../../src/bench/scratch.ts'
import { type Database, isUniqueViolation, openDatabase, transact } from '../../src/db/database.ts'
import type { Transaction } from '../../src/db/transaction.ts'
import { postgresUrl, redisUrl, servicesAvailable } from '../helpers/services.ts'

/*
 * PostgreSQL transactions on pipelined connections (src/db/pg-transaction.ts): fewer round trips, and the same
 * all-or-nothing, first-error-wins behaviour as one statement at a time. On the machine's real PostgreSQL.
 */

/** A proxy in front of PostgreSQL that counts what the client sends: one chunk per write to the socket. */
async function countingProxy(t: Tap, target: URL) {
  const counts = { chunks: 0 }
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname)
    client.on('data', () => counts.chunks++)
    client.pipe(upstream)
    upstream.pipe(client)
    client.on('error', () => {})
    upstream.on('error', () => {})
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const url = new URL(target.href)
  url.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`
  return { url: url.href, counts }
}

type Tap = Parameters<typeof servicesAvailable>[0]

async function open(t: Tap): Promise<{ database: Database; counts: { chunks: number } }> {
  const scratch = await scratchState(postgresUrl, redisUrl, 'test')
  t.teardown(() => scratch.drop())
  const proxy = await countingProxy(t, new URL(scratch.databaseUrl))
  // One connection: every transaction here runs on the one before's connection, so a dirty one would show.
  const database = await openDatabase({
    url: proxy.url,
    sqliteFile: '',
    synchronous: 'FULL',
    poolSize: 1,
    watchErrors: () => {},
    timeoutMs: 2000,
  })
  t.teardown(() => database.close())
  return { database, counts: proxy.counts }
}

const user = (id: string, email = `${id}@b.c`) => ({
  id,
  email,
  email_key: email.toLowerCase(),
  name: null,
  token_hash: 'h',
  created_at: 1,
  avatar_job: null,
})
const writeUser = (tx: Transaction, id: string, email?: string) =>
  tx.write(tx.db.insertInto('users').values(user(id, email)).compile())
const userIds = async (database: Database) =>
  (await database.db.selectFrom('users').select('id').orderBy('id').execute()).map((r) => r.id)

t.test('a transaction of writes alone goes to PostgreSQL in one write, and commits them', async (t) => {
  if (!(await servicesAvailable(t))) return
  const { database, counts } = await open(t)
  await database.ping()
  const before = counts.chunks
  const heard: string[] = []
  await transact(database, async (tx) => {
    writeUser(tx, 'u1')
    writeUser(tx, 'u2')
    tx.afterCommit(() => heard.push('committed'))
  })
  // BEGIN, two inserts and COMMIT, one statement after another, were four writes and four round trips.
  t.equal(counts.chunks - before, 1, 'BEGIN, both inserts and COMMIT left in one write')
  t.same(await userIds(database), ['u1', 'u2'])
  t.same(heard, ['committed'])
})

t.test('a failed write fails its transaction with its own error, and leaves nothing behind', async (t) => {
  if (!(await servicesAvailable(t))) return
  const { database } = await open(t)
  await transact(database, async (tx) => writeUser(tx, 'u1', 'taken@b.c'))
  const heard: string[] = []
  const failed = transact(database, async (tx) => {
    writeUser(tx, 'u2')
    writeUser(tx, 'u3', 'TAKEN@b.c')
    writeUser(tx, 'u4')
    tx.afterCommit(() => heard.push('committed'))
  })
  const err = await failed.then(
    () => undefined,
    (e: unknown) => e,
  )
  // Not "current transaction is aborted" (what the statements after it got), nor the commit's ROLLBACK.
  t.ok(isUniqueViolation(err), `the unique violation itself: ${(err as Error)?.message}`)
  t.same(await userIds(database), ['u1'], 'neither the write before it nor the one after it was kept')
  t.same(heard, [], 'no after-commit hook ran')
  // The pool's one connection is clean: the next transaction on it commits.
  await transact(database, async (tx) => writeUser(tx, 'u5'))
  t.same(await userIds(database), ['u1', 'u5'])
})

t.test('a read inside the transaction sees the writes asked before it, in order', async (t) => {
  if (!(await servicesAvailable(t))) return
  const { database, counts } = await open(t)
  await database.ping()
  const before = counts.chunks
  const seen = await transact(database, async (tx) => {
    writeUser(tx, 'u1')
    const rows = await tx.db.selectFrom('users').select('id').execute()
    writeUser(tx, 'u2')
    return rows.map((r) => r.id)
  })
  t.equal(counts.chunks - before, 2, 'BEGIN, the write and the read in one; the last write with COMMIT')
  t.same(seen, ['u1'])
  t.same(await userIds(database), ['u1', 'u2'])
})

t.test('work that throws rolls back what it wrote; a failure it caught still fails the commit', async (t) => {
  if (!(await servicesAvailable(t))) return
  const { database } = await open(t)
  const thrown = await transact(database, async (tx) => {
    writeUser(tx, 'u1')
    await tx.db.selectFrom('users').select('id').execute()
    throw new Error('changed its mind')
  }).catch((e: Error) => e.message)
  t.equal(thrown, 'changed its mind')
  t.same(await userIds(database), [])

  const caught = await transact(database, async (tx) => {
    writeUser(tx, 'u2')
    // A statement that fails, caught by the work, which goes on as if nothing happened: PostgreSQL has aborted the
    // transaction all the same, and answers its COMMIT with a ROLLBACK.
    await sql`SELECT 1 / 0`.execute(tx.db).catch(() => {})
    writeUser(tx, 'u3')
  }).then(
    () => undefined,
    (e: Error) => e.message,
  )
  t.match(caught, /division by zero/, 'the commit fails, with the first statement that failed')
  t.same(await userIds(database), [])
  await transact(database, async (tx) => writeUser(tx, 'u4'))
  t.same(await userIds(database), ['u4'], 'and the connection is clean for the next')
})

t.test('the write-only transactions of one turn commit together, in one round trip', async (t) => {
  if (!(await servicesAvailable(t))) return
  const { database, counts } = await open(t)
  await database.ping()
  const before = counts.chunks
  const heard: string[] = []
  const ids = Array.from({ length: 10 }, (_, i) => `u${i}`)
  await Promise.all(
    ids.map((id) =>
      transact(database, async (tx) => {
        writeUser(tx, id)
        tx.afterCommit(() => heard.push(id))
      }),
    ),
  )
  t.equal(counts.chunks - before, 1, 'ten transactions of writes: one write to PostgreSQL')
  t.same(await userIds(database), ids)
  t.same(heard.sort(), ids, 'each heard of its commit')
})

t.test('one failure among them fails that one alone, with its own error; the others commit', async (t) => {
  if (!(await servicesAvailable(t))) return
  const { database } = await open(t)
  await transact(database, async (tx) => writeUser(tx, 'first', 'taken@b.c'))
  const heard: string[] = []
  const ids = ['u0', 'u1', 'u2', 'u3']
  const outcomes = await Promise.allSettled(
    ids.map((id) =>
      transact(database, async (tx) => {
        writeUser(tx, id, id === 'u2' ? 'TAKEN@b.c' : undefined)
        tx.afterCommit(() => heard.push(id))
      }),
    ),
  )
  t.same(
    outcomes.map((o) => o.status),
    ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
  )
  const failed = outcomes[2] as PromiseRejectedResult
  t.ok(isUniqueViolation(failed.reason), `u2 failed with the unique violation: ${failed.reason?.message}`)
  t.same(await userIds(database), ['first', 'u0', 'u1', 'u3'], 'its neighbours were committed, and it was not')
  t.same(heard.sort(), ['u0', 'u1', 'u3'])
})
