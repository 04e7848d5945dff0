import t from 'tap'
import { compiledOnce } from '../../src/db/compiled.ts'
import { openTempDatabase } from '../helpers/database.ts'

t.test('a query compiled once runs with each call’s values, its constants kept, and is built only once', async (t) => {
  const database = await openTempDatabase(t)
  let builds = 0
  const insertUser = compiledOnce((db, value) => {
    builds++
    return db
      .insertInto('users')
      .values({
        id: value(0),
        email: value(1),
        email_key: value(1),
        name: null,
        token_hash: 'constant',
        created_at: value(2),
        avatar_job: null,
      })
      .returning(['id', 'email', 'email_key', 'name', 'token_hash', 'created_at'])
  })
  const first = await insertUser(database.db, ['u1', 'a@x.test', 1])
  const second = await insertUser(database.db, ['u2', 'b@x.test', 2])
  t.same(first.rows, [
    { id: 'u1', email: 'a@x.test', email_key: 'a@x.test', name: null, token_hash: 'constant', created_at: 1 },
  ])
  t.same(second.rows, [
    { id: 'u2', email: 'b@x.test', email_key: 'b@x.test', name: null, token_hash: 'constant', created_at: 2 },
  ])
  t.equal(builds, 1, 'built and compiled at the first call only')
  // Inside a transaction too (a savepoint of SQLite's grouped commit is one).
  await database.transact((tx) => insertUser(tx.db, ['u3', 'c@x.test', 3]))
  const ids = await database.db.selectFrom('users').select('id').orderBy('id').execute()
  t.same(
    ids.map((r) => r.id),
    ['u1', 'u2', 'u3'],
  )
  t.equal(builds, 1)
})
