import t from 'tap'
import { signup, startApp, waitForJob } from '../helpers/app.ts'
import { startSmtp } from '../helpers/smtp.ts'

const ADMIN_TOKEN = 'admin-token-for-tests-0123456789'

/** A TIFF whose header is fine (16×16) but whose only strip lies 2 GiB into a 130-byte file. */
function tiffWithFarStrip(): Buffer {
  const entries: [number, number, number][] = [
    [256, 3, 16], // width
    [257, 3, 16], // height
    [258, 3, 8], // bits per sample
    [259, 3, 1], // no compression
    [262, 3, 1], // black is zero
    [273, 4, 0x7fffff00], // StripOffsets
    [277, 3, 1], // samples per pixel
    [278, 3, 16], // rows per strip
    [279, 4, 256], // StripByteCounts
  ]
  const b = Buffer.alloc(10 + entries.length * 12 + 4)
  b.write('II*\0', 0, 'latin1')
  b.writeUInt32LE(8, 4)
  b.writeUInt16LE(entries.length, 8)
  entries.forEach(([tag, type, value], i) => {
    const at = 10 + i * 12
    b.writeUInt16LE(tag, at)
    b.writeUInt16LE(type, at + 2)
    b.writeUInt32LE(1, at + 4)
    if (type === 3) b.writeUInt16LE(value, at + 8)
    else b.writeUInt32LE(value, at + 8)
  })
  return b
}

t.test('libvips text with server paths stays in the log: the client gets a short message of ours', async (t) => {
  const app = await startApp(t, { ADMIN_TOKEN })
  const dataDir = app.config.dataDir
  const ann = await signup(app, 'ann@example.com')
  const put = (payload: Buffer, type: string) =>
    app.inject({
      method: 'PUT',
      url: `/users/${ann.id}/avatar`,
      headers: { authorization: `Bearer ${ann.token}`, 'content-type': type },
      payload,
    })

  const avif = Buffer.concat([
    Buffer.from('00000018667479706176696600000000', 'hex'),
    Buffer.from('mif1avif'),
    Buffer.alloc(64),
  ])
  const refused = await put(avif, 'image/avif')
  t.equal(refused.statusCode, 422)
  t.equal(refused.json().code, 'IMAGE_UNDECODABLE')
  t.notMatch(refused.body, dataDir, 'no server path in the answer')
  t.notMatch(refused.body, /bad seek/, 'no libvips text in the answer')
  t.ok(refused.body.length < 300, `a short answer (${refused.body.length} characters)`)

  const accepted = await put(tiffWithFarStrip(), 'image/tiff')
  t.equal(accepted.statusCode, 202, 'the header is fine, so it is accepted')
  const failed = await waitForJob(app, ann, accepted.json().jobId)
  t.equal(failed.status, 'failed')
  t.equal(failed.error.code, 'IMAGE_UNDECODABLE')
  t.notMatch(JSON.stringify(failed), dataDir, "no server path in the owner's job view")
  t.equal(failed.error.detail, undefined)

  const list = await app.inject({
    url: '/admin/jobs?status=failed&kind=image.avatar',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  })
  const seen = list.json().jobs.find((j: { id: string }) => j.id === failed.id)
  t.match(seen.error.detail, /bad seek/, "the admin API carries libvips' own text")
})

t.test("an admin-notice job does not show its owner the admin's address", async (t) => {
  const smtp = await startSmtp()
  t.teardown(() => smtp.close())
  const app = await startApp(t, { ADMIN_EMAIL: 'ops-secret@deckhand.test', SMTP_URL: smtp.url })
  const ann = await signup(app, 'ann@example.com')
  for (const { id } of ann.jobs) {
    const job = await waitForJob(app, ann, id)
    t.equal(job.status, 'succeeded')
    t.notMatch(JSON.stringify(job), /ops-secret/, `${job.kind}: no admin address`)
  }
  t.ok(
    smtp.received.some((m) => m.to.includes('ops-secret@deckhand.test')),
    'the notice was sent all the same',
  )
})

t.test("a mail job that cannot reach the relay does not show its owner the relay's address", async (t) => {
  // A port nothing listens on: the mail jobs fail to connect and wait to retry.
  const app = await startApp(t, {
    ADMIN_TOKEN,
    SMTP_URL: 'smtp://127.0.0.1:9',
    MAX_ATTEMPTS: '1',
  })
  const ann = await signup(app, 'ann@example.com')
  for (const { id } of ann.jobs) {
    const job = await waitForJob(app, ann, id)
    t.equal(job.status, 'failed')
    t.equal(job.error.code, 'SMTP_ERROR')
    t.notMatch(JSON.stringify(job), /127\.0\.0\.1|:9\b/, 'no relay address or port')
  }
  const list = await app.inject({
    url: '/admin/jobs?status=failed',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  })
  t.match(list.json().jobs[0].error.detail, /127\.0\.0\.1:9/, 'the admin sees where the relay was')
})
