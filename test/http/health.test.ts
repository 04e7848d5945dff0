import t from 'tap'
import { startApp } from '../helpers/app.ts'

t.test('/healthz and /readyz answer ok while the service runs', async (t) => {
  const app = await startApp(t)
  t.same((await app.inject({ url: '/healthz' })).json(), { status: 'ok' })
  const ready = await app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok' })
})

t.test('/readyz answers 503 NOT_READY once the job runner has stopped', async (t) => {
  const app = await startApp(t)
  await app.runner?.stop(0)
  const res = await app.inject({ url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'NOT_READY')
  t.match(res.json().message, /job runner/)
})

t.test('the OpenAPI document at /docs/json is generated from the route schemas', async (t) => {
  const app = await startApp(t)
  const res = await app.inject({ url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.ok(doc.paths['/signup'].post, 'POST /signup is documented')
  t.ok(doc.paths['/jobs/{id}'].get, 'GET /jobs/{id} is documented')
  t.equal(doc.paths['/signup'].post.requestBody.content['application/json'].schema.properties.email.format, 'email')
})
