import fs from 'node:fs'
import sharp from 'sharp'
import t from 'tap'
import { signup, startApp, storedFiles, uploadRaw, waitForJob } from '../helpers/app.ts'

/*
 * Every fixture with its documented outcome (fixtures/README.md). The Content-Type sent is always
 * image/jpeg: deckhand must judge by the bytes, never by the header.
 */
const outcomes: Record<string, { status: number; code?: string; job?: 'succeeded' | 'failed'; jobCode?: string }> = {
  'photo-exif.jpg': { status: 202, job: 'succeeded' },
  'photo-12mp.jpg': { status: 202, job: 'succeeded' },
  'alpha.png': { status: 202, job: 'succeeded' },
  'image.webp': { status: 202, job: 'succeeded' },
  'image.avif': { status: 202, job: 'succeeded' },
  'animated.gif': { status: 202, job: 'succeeded' },
  'cmyk.jpg': { status: 202, job: 'succeeded' },
  'deep-16bit.png': { status: 202, job: 'succeeded' },
  'image.tiff': { status: 202, job: 'succeeded' },
  'truncated.jpg': { status: 202, job: 'failed', jobCode: 'IMAGE_UNDECODABLE' },
  'not-an-image.jpg': { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  'image.svg': { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  'huge-header.png': { status: 422, code: 'IMAGE_TOO_LARGE' },
  'empty.jpg': { status: 400, code: 'EMPTY_UPLOAD' },
}

t.test('every fixture gets its documented outcome', async (t) => {
  t.same(
    Object.keys(outcomes).sort(),
    fs.readdirSync(new URL('../../fixtures/images/', import.meta.url)).sort(),
    'the table covers every fixture there is',
  )
  const app = await startApp(t, { MAX_ATTEMPTS: '3' })
  for (const [name, expected] of Object.entries(outcomes)) {
    const user = await signup(app, `${name.replace(/\W/g, '')}@example.com`)
    const res = await uploadRaw(app, user, name, 'image/jpeg')
    t.equal(res.statusCode, expected.status, `${name}: status`)
    if (expected.code) {
      t.equal(res.json().code, expected.code, `${name}: code`)
      continue
    }
    const job = await waitForJob(app, user, res.json().jobId)
    t.equal(job.status, expected.job, `${name}: job ${expected.job}`)
    if (expected.jobCode) {
      t.equal(job.error.code, expected.jobCode, `${name}: job error`)
      t.equal(job.attempts, 1, `${name}: not retried`)
      t.equal((await app.inject({ url: `/users/${user.id}` })).json().avatar, null, `${name}: no avatar`)
    } else {
      t.equal(job.result.variants.length, 12, `${name}: 4 sizes × (webp, avif, jpeg)`)
      t.match(job.result.placeholder, /^[A-Za-z0-9+/]+=*$/, `${name}: placeholder`)
      t.match(job.result.dominantColor, /^#[0-9a-f]{6}$/, `${name}: dominant colour`)
    }
  }
  t.same(fs.readdirSync(storedFiles(app).originals), [], 'every original is removed once its job has finished')
})

t.test('pixels over MAX_INPUT_PIXELS are refused from the header, before any decode', async (t) => {
  const app = await startApp(t, { MAX_INPUT_PIXELS: String(1200 * 800 - 1) })
  const ann = await signup(app, 'ann@example.com')
  const res = await uploadRaw(app, ann, 'photo-exif.jpg')
  t.equal(res.statusCode, 422)
  t.equal(res.json().code, 'IMAGE_TOO_LARGE')
  t.match(res.json().message, /959999 pixels.*1200×800/)
})

async function pixel(file: string, x: number, y: number) {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true })
  const at = (y * info.width + x) * info.channels
  return [...data.subarray(at, at + info.channels)]
}

t.test('outputs: the right sizes and formats, upright, with no metadata at all', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const job = await waitForJob(app, ann, (await uploadRaw(app, ann, 'photo-exif.jpg')).json().jobId)
  t.equal(job.status, 'succeeded')
  const dir = storedFiles(app).avatarVersion(ann.id, job.id)
  const expectedFormat = { webp: 'webp', avif: 'heif', jpeg: 'jpeg' } as const
  for (const { size, format, bytes } of job.result.variants as { size: number; format: 'webp'; bytes: number }[]) {
    const file = `${dir}/${size}.${format}`
    const meta = await sharp(file).metadata()
    t.equal(meta.format, expectedFormat[format], `${size}.${format}: format`)
    t.equal(meta.width, size, `${size}.${format}: width`)
    t.equal(meta.height, size, `${size}.${format}: height`)
    t.equal(fs.statSync(file).size, bytes, `${size}.${format}: bytes as reported`)
    t.notOk(meta.exif, `${size}.${format}: no EXIF (and so no GPS)`)
    t.notOk(meta.xmp, `${size}.${format}: no XMP`)
    t.notOk(meta.iptc, `${size}.${format}: no IPTC`)
    t.notOk(meta.orientation && meta.orientation !== 1, `${size}.${format}: no orientation left to apply`)
    t.notOk(fs.readFileSync(file).includes('private-marker'), `${size}.${format}: no trace of the camera's tags`)
  }
  // The fixture is stored left red / right blue with EXIF orientation 6: upright it is top red, bottom blue.
  const [r1, , b1] = await pixel(`${dir}/64.jpeg`, 32, 4)
  const [r2, , b2] = await pixel(`${dir}/64.jpeg`, 32, 59)
  t.ok((r1 as number) > 150 && (b1 as number) < 100, `top is red (${r1}, ${b1})`)
  t.ok((b2 as number) > 150 && (r2 as number) < 100, `bottom is blue (${r2}, ${b2})`)
})

t.test('alpha survives in WebP and AVIF, becomes white in JPEG; a GIF avatar is its first frame', async (t) => {
  const app = await startApp(t)
  const ann = await signup(app, 'ann@example.com')
  const png = await waitForJob(app, ann, (await uploadRaw(app, ann, 'alpha.png')).json().jobId)
  const pngDir = storedFiles(app).avatarVersion(ann.id, png.id)
  t.equal((await pixel(`${pngDir}/128.webp`, 1, 1))[3], 0, 'WebP corner transparent')
  t.equal((await sharp(`${pngDir}/128.avif`).metadata()).hasAlpha, true, 'AVIF keeps alpha')
  t.same((await pixel(`${pngDir}/128.jpeg`, 1, 1)).slice(0, 3), [255, 255, 255], 'JPEG corner white')
  t.equal(png.result.dominantColor, '#1c9c3c', 'the disc is the dominant colour, not the transparent corners')

  const bob = await signup(app, 'bob@example.com')
  const gif = await waitForJob(app, bob, (await uploadRaw(app, bob, 'animated.gif')).json().jobId)
  const [r, g, b] = await pixel(`${storedFiles(app).avatarVersion(bob.id, gif.id)}/64.jpeg`, 32, 32)
  t.ok((r as number) > 200 && (g as number) > 100 && (b as number) < 60, `first frame is orange (${r}, ${g}, ${b})`)
})
