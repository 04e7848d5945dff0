import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { threadId } from 'node:worker_threads'
import sharp from 'sharp'
import t, { type Test } from 'tap'
import { type AvatarTask, renderAvatarTask } from '../../src/avatars/render.ts'
import { createImagePool, type ImagePool } from '../../src/images/pool.ts'
import type { RenderOutcome } from '../../src/images/render.ts'
import { imageTask } from '../../src/images/task.ts'
import { fixture } from '../helpers/app.ts'
import type { BannerTask } from './banner-worker.ts'

const module = new URL('./banner-worker.ts', import.meta.url)
const renderBanner = imageTask<BannerTask, RenderOutcome>(module, 'renderBanner')
const whereAmI = imageTask<{ echo: string }, { threadId: number; echo: string }>(module, 'whereAmI')

/** A pool of one thread whose threads load the banner module; `errors` are the deaths of threads holding no task. */
function pool(t: Test): { images: ImagePool; errors: unknown[] } {
  const errors: unknown[] = []
  const images = createImagePool({
    threads: 1,
    idleTimeoutMs: 60_000,
    maxQueue: 16,
    maxHeapMb: 256,
    nice: 0,
    preload: [whereAmI],
    watchErrors: (emitter) => emitter.on('error', (err: unknown) => errors.push(err)),
  })
  t.teardown(() => images.close())
  return { images, errors }
}

const never = new AbortController().signal

t.test('the pool runs each named task of a module no feature owns, on its own thread', async (t) => {
  const { images, errors } = pool(t)
  const where = await images.run(whereAmI, { echo: 'hello' }, never)
  t.equal(where.echo, 'hello', 'the input went to the thread and came back')
  t.not(where.threadId, threadId, 'not on the calling thread')

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-pool-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const output = path.join(dir, 'banner.webp')
  const outcome = await images.run(renderBanner, { input: fixture('photo-12mp.jpg'), output }, never)
  t.ok(outcome.ok, 'the second task of the same module ran')
  t.match(outcome, { ok: true, source: { width: 4000, height: 3000, format: 'jpeg' } })
  const meta = await sharp(output).metadata()
  t.match(meta, { format: 'webp', width: 320, height: 80 }, 'the banner is the size its task asked for')
  t.notOk(fs.existsSync(`${output}.tmp`), 'written aside and renamed into place')
  t.same(errors, [], 'no thread died')
})

t.test("the same pool runs another module's task beside it: the module is named per task", async (t) => {
  const { images, errors } = pool(t)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-pool-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const task: AvatarTask = {
    input: fixture('alpha.png'),
    outDir: dir,
    sizes: [64],
    formats: ['jpeg'],
    maxPixels: 50_000_000,
    timeoutSeconds: 30,
  }
  const [avatar, where] = await Promise.all([
    images.run(renderAvatarTask, task, never),
    images.run(whereAmI, { echo: 'beside' }, never),
  ])
  t.match(avatar, { ok: true, variants: [{ size: 64, format: 'jpeg' }] })
  t.ok(fs.existsSync(path.join(dir, '64.jpeg')), "the avatar task wrote its variant under the feature's name")
  t.equal(where.echo, 'beside')
  t.same(errors, [], 'no thread died')
})
