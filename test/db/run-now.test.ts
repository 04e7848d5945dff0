import t from 'tap'
import { compiledOnce } from '../../src/db/compiled.ts'
import type { Transaction } from '../../src/db/transaction.ts'
import { openTempDatabase } from '../helpers/database.ts'

/*
 * Inside SQLite's grouped commit the statements of a piece run at once on the connection (db/run-now.ts) instead of
 * through Kysely's executor. What must not change: they run in the order the piece asks for them, whichever way it
 * asks; nothing outside the group reads its uncommitted rows; and a transaction object kept past its commit is not a
 * way onto the connection.
 */

const insertUser = compiledOnce((db, value) =>
  db.insertInto('users').values({
    id: value(0),
    email: value(0),
    email_key: value(0),
    name: null,
    token_hash: 'h',
    created_at: 1,
    avatar_job: null,
  }),
)
const countUsers = compiledOnce((db) => db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')))
const count = async (db: Transaction['db']) => Number((await countUsers(db, [])).rows[0]?.n)

t.test('a piece’s statements run in the order it asks for them: writes, compiled queries and Kysely’s', async (t) => {
  const database = await openTempDatabase(t)
  const seen = await database.transact(async (tx) => {
    const seen: number[] = []
    tx.write(insertUser.compile(tx.db, ['a']))
    seen.push(await count(tx.db))
    await tx.db
      .insertInto('users')
      .values({ id: 'b', email: 'b', email_key: 'b', name: null, token_hash: 'h', created_at: 1, avatar_job: null })
      .execute()
    tx.write(insertUser.compile(tx.db, ['c']))
    seen.push(await count(tx.db))
    const viaKysely = await tx.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst()
    seen.push(Number(viaKysely?.n))
    return seen
  })
  t.same(seen, [1, 3, 3], 'each statement saw the ones asked for before it')
  t.equal(await count(database.db), 3)

  // A write that fails fails its piece, and the piece's earlier statements are rolled back with it.
  await t.rejects(
    database.transact(async (tx) => {
      await insertUser(tx.db, ['d'])
      tx.write(insertUser.compile(tx.db, ['a']))
    }),
    /UNIQUE/,
  )
  t.equal(await count(database.db), 3, 'd was rolled back with the failed write')
})

t.test('a query on the database while a group is open reads only what is committed', async (t) => {
  const database = await openTempDatabase(t, 'NORMAL', Number.POSITIVE_INFINITY)
  let outside: Promise<number> | undefined
  const piece = database.transact(async (tx) => {
    await insertUser(tx.db, ['x'])
    // The group holds the connection across this wait; a compiled query on the database itself is asked meanwhile.
    outside = count(database.db)
    await new Promise((resolve) => setTimeout(resolve, 30))
    throw new Error('the work failed')
  })
  await t.rejects(piece, /the work failed/)
  t.equal(await outside, 0, 'it never saw x, which its piece rolled back')
  t.equal(await count(database.db), 0)
})

t.test('a transaction kept past its commit cannot run statements on the connection', async (t) => {
  const database = await openTempDatabase(t)
  let kept: Transaction['db'] | undefined
  await database.transact(async (tx) => {
    kept = tx.db
    await insertUser(tx.db, ['a'])
  })
  await t.rejects(async () => insertUser(kept as Transaction['db'], ['b']), /committed/, 'Kysely refuses it, as before')
  t.equal(await count(database.db), 1)
})
