import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { text } from 'node:stream/consumers'
import t, { type Test } from 'tap'
import { DependencyDown } from '../../src/dependencies.ts'
import { createFolderStore } from '../../src/storage/folder-store.ts'
import type { ObjectStore } from '../../src/storage/object-store.ts'
import { createS3Store, parseStorageUrl } from '../../src/storage/s3-store.ts'
import { tempDataDir } from '../helpers/app.ts'
import { startS3rver } from '../helpers/s3.ts'

const bytesOf = async (store: ObjectStore, key: string) => {
  const body = await store.get(key)
  if (!body) return undefined
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** What every store must do alike: the features use them without knowing which one they have. */
function contract(name: string, open: (t: Test) => Promise<ObjectStore>) {
  t.test(`${name}: put, get, head, list, delete and delete by prefix`, async (t) => {
    const store = await open(t)
    const scratch = tempDataDir(t)
    const put = async (key: string, content: string | Buffer) => {
      const file = path.join(scratch, `${Math.random()}`)
      fs.writeFileSync(file, content)
      await store.putFile(key, file)
    }
    await put('avatars/u1/v1/64.webp', 'a')
    await put('avatars/u1/v1/128.webp', 'bb')
    await put('avatars/u1/v2/64.webp', 'ccc')
    await put('avatars/u2/v9/64.webp', 'dddd')
    await put('uploads/originals/x.png', 'eeeee')

    t.equal(await text((await store.get('avatars/u1/v1/128.webp')) as NodeJS.ReadableStream), 'bb')
    t.equal(await store.get('avatars/u1/v1/512.webp'), undefined, 'a missing key: undefined, not an error')
    const head = await store.head('avatars/u2/v9/64.webp')
    t.equal(head?.bytes, 4)
    t.ok(head && Math.abs(head.modifiedMs - Date.now()) < 60_000, 'its time is that of its write')
    t.equal(await store.head('nope'), undefined)

    // Twelve at once into one new folder, as an avatar's variants are put: each is there, whole, when its put ends.
    const variants = Array.from({ length: 12 }, (_, i) => `avatars/u3/v1/${i}.webp`)
    await Promise.all(variants.map((key, i) => put(key, 'v'.repeat(i + 1))))
    for (const [i, key] of variants.entries()) t.equal((await store.head(key))?.bytes, i + 1, `${key} at once`)
    t.equal(await store.deletePrefix('avatars/u3/'), 12)

    const listed = []
    for await (const object of store.list('avatars/')) listed.push(object.key)
    t.same(
      listed.sort(),
      ['avatars/u1/v1/128.webp', 'avatars/u1/v1/64.webp', 'avatars/u1/v2/64.webp', 'avatars/u2/v9/64.webp'],
      'the listing holds every object under the prefix and nothing else',
    )

    const local = path.join(scratch, 'fetched')
    t.equal(await store.getFile('uploads/originals/x.png', local), true)
    t.equal(fs.readFileSync(local, 'utf8'), 'eeeee')
    t.equal(await store.getFile('uploads/originals/gone.png', path.join(scratch, 'none')), false)

    t.equal(await store.deletePrefix('avatars/u1/v1/'), 2, 'one version, both its objects')
    t.equal(await store.get('avatars/u1/v1/64.webp'), undefined)
    t.ok(await store.head('avatars/u1/v2/64.webp'), 'the next version is untouched')
    await store.delete('uploads/originals/x.png')
    await store.delete('uploads/originals/x.png')
    t.equal(await store.head('uploads/originals/x.png'), undefined, 'deleted, and deleting again is no error')
    await store.check()
  })
}

contract('folder', async (t) => createFolderStore(tempDataDir(t)))
contract('s3', async (t) => {
  const s3 = await startS3rver(t)
  const store = createS3Store({
    url: `s3://${s3.bucket}/contract`,
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    timeoutMs: 1500,
  })
  t.teardown(() => store.close())
  return store
})

async function openS3(t: Test, prefix = 'p') {
  const s3 = await startS3rver(t)
  const store = createS3Store({
    url: `s3://${s3.bucket}/${prefix}`,
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    timeoutMs: 1000,
  })
  t.teardown(() => store.close())
  return { s3, store }
}

t.test('s3: bytes round-trip exactly, in one PutObject and in a multipart upload', async (t) => {
  const { s3, store } = await openS3(t)
  const scratch = tempDataDir(t)
  // 100,000 bytes: the size at which the SDK's default checksums made s3rver store 100,045 (the chunk framing).
  for (const size of [100_000, 11 * 1024 * 1024]) {
    const content = randomBytes(size)
    const file = path.join(scratch, `in-${size}`)
    fs.writeFileSync(file, content)
    await store.putFile(`round-trip/${size}`, file)
    const back = await bytesOf(store, `round-trip/${size}`)
    t.equal(back?.length, size, `${size} bytes read back`)
    t.ok(back?.equals(content), `${size}: the same bytes`)
    t.equal((await store.head(`round-trip/${size}`))?.bytes, size, `${size}: the stored object's length`)
    const out = path.join(scratch, `out-${size}`)
    await store.getFile(`round-trip/${size}`, out)
    t.ok(fs.readFileSync(out).equals(content), `${size}: fetched into a file intact`)
  }
  t.same(s3.keys(), ['p/round-trip/100000', `p/round-trip/${11 * 1024 * 1024}`], 'under the URL prefix')
})

t.test('s3: a presigned URL serves the object to anybody without credentials', async (t) => {
  const { store } = await openS3(t)
  const file = path.join(tempDataDir(t), 'in')
  const content = randomBytes(100_000)
  fs.writeFileSync(file, content)
  await store.putFile('signed/one', file)
  const url = (await store.signedUrl('signed/one', 60)) as string
  t.match(url, /X-Amz-Signature=/)
  const res = await fetch(url)
  t.equal(res.status, 200)
  t.ok(Buffer.from(await res.arrayBuffer()).equals(content), 'the bytes, without credentials')
  // s3rver does not verify a presigned URL's signature, so a forged one is not tested here: S3 and its kin do.
  t.match(url, /X-Amz-Expires=60/, 'the URL carries its expiry')
})

t.test('s3: an object keeps the Content-Type and Cache-Control it was put with, and is served with them', async (t) => {
  const { s3, store } = await openS3(t)
  const scratch = tempDataDir(t)
  const headers = { contentType: 'image/webp', cacheControl: 'public, max-age=31536000, immutable' }
  // One PutObject, and a multipart upload (past 5 MiB), which names the type when it begins.
  for (const size of [1000, 6 * 1024 * 1024]) {
    const file = path.join(scratch, `${size}`)
    fs.writeFileSync(file, randomBytes(size))
    await store.putFile(`typed/${size}`, file, headers)
    const head = await fetch(`${s3.endpoint}/${s3.bucket}/p/typed/${size}`, { method: 'HEAD' })
    t.equal(head.status, 200)
    t.equal(head.headers.get('content-type'), 'image/webp', `${size}: HEAD from the bucket`)
    t.equal(head.headers.get('cache-control'), headers.cacheControl)
    const got = await fetch((await store.signedUrl(`typed/${size}`, 60)) as string)
    t.equal(got.headers.get('content-type'), 'image/webp', `${size}: GET of its presigned URL`)
    t.equal(got.headers.get('cache-control'), headers.cacheControl)
    t.equal((await got.arrayBuffer()).byteLength, size)
  }
})

t.test('s3: a bucket out of reach fails every call as DependencyDown(storage), fast', async (t) => {
  const { s3, store } = await openS3(t)
  const file = path.join(tempDataDir(t), 'in')
  fs.writeFileSync(file, 'x')
  await store.putFile('before', file)
  await s3.stop()
  const calls: [string, () => Promise<unknown>][] = [
    ['putFile', () => store.putFile('k', file)],
    ['get', () => store.get('before')],
    ['getFile', () => store.getFile('before', `${file}.out`)],
    ['head', () => store.head('before')],
    ['delete', () => store.delete('before')],
    ['deletePrefix', () => store.deletePrefix('b')],
    ['list', async () => (await store.list('')[Symbol.asyncIterator]().next()).value],
    ['check', () => store.check()],
  ]
  for (const [name, call] of calls) {
    const started = Date.now()
    const err = await call().then(
      () => undefined,
      (e: unknown) => e,
    )
    t.type(err, DependencyDown, `${name}: DependencyDown`)
    t.equal((err as DependencyDown).dependency, 'storage', `${name}: the storage's fault`)
    t.ok(Date.now() - started < 3000, `${name}: answered in ${Date.now() - started} ms`)
  }
  await s3.start()
  t.equal((await bytesOf(store, 'before'))?.toString(), 'x', 'back: the object is there')
})

t.test('s3: a silent bucket (connected, never answering) fails each call within DEPENDENCY_TIMEOUT_MS', async (t) => {
  const sockets = new Set<net.Socket>()
  const silent = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    silent.close()
  })
  const { port } = silent.address() as net.AddressInfo
  const store = createS3Store({
    url: 's3://deckhand',
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    timeoutMs: 300,
  })
  t.teardown(() => store.close())
  const file = path.join(tempDataDir(t), 'in')
  fs.writeFileSync(file, 'x')
  const calls: [string, () => Promise<unknown>][] = [
    ['get', () => store.get('k')],
    ['head', () => store.head('k')],
    ['check', () => store.check()],
    ['putFile', () => store.putFile('k', file)],
  ]
  for (const [name, call] of calls) {
    const started = Date.now()
    const err = await call().then(
      () => undefined,
      (e: unknown) => e,
    )
    const took = Date.now() - started
    t.type(err, DependencyDown, `${name}: DependencyDown (${(err as Error)?.message})`)
    // One attempt: bounded by the deadline, or for a transfer by its socket's silence (300 ms here).
    t.ok(took < 1000, `${name}: answered in ${took} ms`)
  }
})

t.test('s3: a bucket that does not exist is a fault of the storage too, not a missing key', async (t) => {
  const s3 = await startS3rver(t)
  const store = createS3Store({
    url: 's3://no-such-bucket',
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    timeoutMs: 1000,
  })
  t.teardown(() => store.close())
  await t.rejects(store.get('k'), DependencyDown)
  await t.rejects(store.check(), DependencyDown)
})

t.test('STORAGE_URL: the bucket and an optional prefix', async (t) => {
  t.same(parseStorageUrl('s3://b'), { bucket: 'b', prefix: '' })
  t.same(parseStorageUrl('s3://b/'), { bucket: 'b', prefix: '' })
  t.same(parseStorageUrl('s3://b/deck/hand/'), { bucket: 'b', prefix: 'deck/hand/' })
})
