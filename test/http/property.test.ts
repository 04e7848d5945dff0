import fs from 'node:fs'
import fc from 'fast-check'
import t from 'tap'
import { fixture, signup, startApp } from '../helpers/app.ts'
import { waitFor } from '../helpers/wait.ts'

// Seeded, so a failure can be replayed; the seed is printed with any counterexample.
const seed = Number(process.env.FC_SEED ?? 20261126)

t.test('random JSON against POST /signup: never a 5xx, always the error shape', async (t) => {
  const app = await startApp(t)
  const body = fc.oneof(
    fc.jsonValue(),
    fc.record(
      { email: fc.oneof(fc.emailAddress(), fc.string(), fc.jsonValue()), name: fc.oneof(fc.string(), fc.jsonValue()) },
      { requiredKeys: [] },
    ),
    fc.dictionary(fc.string(), fc.jsonValue()),
  )
  await fc.assert(
    fc.asyncProperty(body, async (payload) => {
      const res = await app.inject({
        method: 'POST',
        url: '/signup',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      })
      if (res.statusCode >= 500) throw new Error(`${res.statusCode} for ${JSON.stringify(payload)}: ${res.body}`)
      if (res.statusCode !== 201) {
        const keys = Object.keys(res.json()).sort().join()
        if (keys !== 'code,error,message,statusCode')
          throw new Error(`error shape ${keys} for ${JSON.stringify(payload)}`)
      }
    }),
    { numRuns: 300, seed },
  )
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'the process is alive')
})

t.test('random bytes and mutated images against the upload route: never a 5xx, jobs end cleanly', async (t) => {
  const app = await startApp(t, { MAX_ATTEMPTS: '2' })
  const ann = await signup(app, 'ann@example.com')
  const seeds = ['photo-exif.jpg', 'alpha.png', 'image.webp', 'image.avif', 'animated.gif', 'image.tiff'].map((n) =>
    fs.readFileSync(fixture(n)),
  )
  // A valid image, then some of its bytes overwritten, or cut short, or both.
  const mutated = fc
    .record({
      image: fc.constantFrom(...seeds),
      flips: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 12 }),
      cut: fc.option(fc.double({ min: 0.05, max: 1, noNaN: true }), { nil: undefined }),
    })
    .map(({ image, flips, cut }) => {
      const bytes = Buffer.from(image)
      for (const { at, value } of flips) bytes[at % bytes.length] = value
      return cut === undefined ? bytes : bytes.subarray(0, Math.max(1, Math.floor(bytes.length * cut)))
    })
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
    mutated,
  )
  const jobs: string[] = []
  await fc.assert(
    fc.asyncProperty(input, fc.constantFrom('image/jpeg', 'image/png', 'image/x-anything'), async (bytes, type) => {
      const res = await app.inject({
        method: 'PUT',
        url: `/users/${ann.id}/avatar`,
        headers: { authorization: `Bearer ${ann.token}`, 'content-type': type },
        payload: bytes,
      })
      if (res.statusCode >= 500) throw new Error(`${res.statusCode} for ${bytes.length} bytes: ${res.body}`)
      if (res.statusCode === 202) jobs.push(res.json().jobId)
    }),
    { numRuns: 150, seed },
  )
  t.ok(jobs.length > 0, `${jobs.length} inputs were accepted and queued`)
  await waitFor(
    'every accepted job to finish',
    async () => {
      const all = await Promise.all(jobs.map((id) => app.queue.get(id)))
      return all.every((job) => ['succeeded', 'failed'].includes(job?.status as string))
    },
    120_000,
    100,
  )
  const finished = await Promise.all(jobs.map((id) => app.queue.get(id)))
  const codes = new Set(finished.map((job) => job?.lastError?.code).filter(Boolean))
  t.same(
    [...codes].filter((c) => c !== 'IMAGE_UNDECODABLE' && c !== 'IMAGE_TOO_LARGE'),
    [],
    `failures are the input's fault, never a crash (${[...codes].join(', ') || 'none failed'})`,
  )
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'the process is alive')
})
