import pg from 'pg'
import t from 'tap'
import { metricValue } from '../../src/bench/stats.ts'
import { signup, startApp } from '../helpers/app.ts'
import { postgresUrl, scaledEnv, servicesAvailable } from '../helpers/services.ts'
import { waitFor } from '../helpers/wait.ts'

t.test(
  'PostgreSQL cutting every connection, idle or in use: counted as pg errors, and the next request connects anew',
  async (t) => {
    if (!(await servicesAvailable(t))) return
    const { DATABASE_URL } = await scaledEnv(t)
    const app = await startApp(t, { DATABASE_URL: DATABASE_URL as string, DATABASE_POOL_SIZE: '2' })
    await signup(app, 'ann@example.com')
    const database = new URL(DATABASE_URL as string).pathname.slice(1)

    // What a restarted or failed-over server does to the connections the pool keeps open between queries.
    const admin = new pg.Client({ connectionString: postgresUrl })
    await admin.connect()
    t.teardown(() => admin.end())
    const errorsNow = async () =>
      metricValue((await app.inject({ url: '/metrics' })).body, 'deckhand_errors_total{source="pg"}')
    t.equal(await errorsNow(), 0)
    await waitFor('idle connections to be cut, and the pool to hear of it', async () => {
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [database])
      return (await errorsNow()) >= 1
    })

    t.equal((await app.inject({ url: '/readyz' })).statusCode, 200, 'ready: the pool opened a new connection')
    t.ok((await signup(app, 'bob@example.com')).id, 'and a signup is written')
  },
)
