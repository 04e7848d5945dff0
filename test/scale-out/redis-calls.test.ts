import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t from 'tap'
import { DependencyDown } from '../../src/dependencies.ts'
import { redisCalls } from '../../src/jobs/bullmq/redis-calls.ts'
import { redisUrl, servicesAvailable } from '../helpers/services.ts'

t.test("a sweep's Redis work is bounded per command, not as a whole; a request's is bounded as a whole", async (t) => {
  if (!(await servicesAvailable(t))) return
  const redis = new Redis(redisUrl)
  t.teardown(() => redis.disconnect())
  await redis.ping()
  const calls = redisCalls(redis, 50)
  // Work longer than the store's limit, each command quick: a sweep over a large backlog.
  const long = async () => {
    for (let i = 0; i < 5; i++) {
      await redis.ping()
      await sleep(40)
    }
    return 'done'
  }
  t.equal(await calls.sweep(long), 'done', 'a sweep runs to its end')
  await t.rejects(calls.bounded(long), DependencyDown, 'a request is cut off at the limit')
})
