import fs from 'node:fs'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { receiveToFile, TooManyBytes, unwritten, WRITE_BYTES } from '../../src/storage/receive.ts'
import { tempDataDir } from '../helpers/app.ts'

// Descriptors this process holds into `dir`, from /proc (Linux).
const openInto = (dir: string) =>
  fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)
    } catch {
      return false
    }
  }).length

/*
 * Node's pipeline() settles as soon as one stream fails, before a file sink it destroyed has closed, and such a
 * sink may still be opening its file. Removed at that moment, the file would be created afterwards and stay for
 * ever (one was, in a CI run of hostile-uploads.test.ts, its descriptor closed). A failed receive must therefore
 * settle only once its sink has closed, and then remove the file.
 */
t.test(
  'a receive that fails settles only after its file is closed and removed',
  { skip: process.platform !== 'linux' && 'reads /proc' },
  async (t) => {
    const dir = tempDataDir(t)
    let openAtSettle = 0
    for (let i = 0; i < 50; i++) {
      const source = new PassThrough()
      const receiving = receiveToFile(source, path.join(dir, `upload-${i}`), 1_000_000)
      setImmediate(() => source.destroy(new Error('the client went away')))
      await receiving.catch(() => {})
      openAtSettle += openInto(dir)
      t.same(fs.readdirSync(dir), [], `no file once upload ${i} failed`)
    }
    t.equal(openAtSettle, 0, 'no descriptor into the folder was still open when a failed receive settled')
  },
)

t.test('an upload reaches its file whole, in order, and seen chunk by chunk, however its pieces fall', async (t) => {
  const dir = tempDataDir(t)
  // Pieces of odd sizes that end on, before and after the boundaries where the gathered bytes are written.
  const sizes = [1, WRITE_BYTES - 1, 1, 65_536, WRITE_BYTES, 3, 200_000, WRITE_BYTES + 7, 12]
  const pieces = sizes.map((n, i) => Buffer.alloc(n, i + 1))
  const source = new PassThrough()
  const seen: number[] = []
  const file = path.join(dir, 'upload')
  const receiving = receiveToFile(source, file, 10_000_000, (chunk) => seen.push(chunk.length))
  for (const piece of pieces) source.write(piece)
  source.end()
  const total = sizes.reduce((a, b) => a + b, 0)
  t.equal(await receiving, total, 'every byte counted')
  t.same(fs.readFileSync(file), Buffer.concat(pieces), 'the file holds the bytes as sent')
  t.equal(
    seen.reduce((a, b) => a + b, 0),
    total,
    'the observer saw every byte once',
  )
})

t.test('an upload over the limit fails before it is written whole, and leaves no file', async (t) => {
  const dir = tempDataDir(t)
  const source = new PassThrough()
  const file = path.join(dir, 'upload')
  const receiving = receiveToFile(source, file, WRITE_BYTES * 2)
  source.write(Buffer.alloc(WRITE_BYTES))
  source.write(Buffer.alloc(WRITE_BYTES))
  source.write(Buffer.alloc(1))
  await t.rejects(receiving, TooManyBytes)
  t.same(fs.readdirSync(dir), [], 'the partial file is removed')
})

t.test('a write that takes fewer bytes than it was given leaves the rest, in order, to go again', async (t) => {
  const buffers = [Buffer.from('abc'), Buffer.from('defg'), Buffer.from('h')]
  const rest = (written: number) => Buffer.concat(unwritten(buffers, written)).toString()
  t.equal(rest(0), 'abcdefgh', 'nothing written: all of it')
  t.equal(rest(2), 'cdefgh', 'within the first buffer')
  t.equal(rest(3), 'defgh', 'on a boundary')
  t.equal(rest(5), 'fgh', 'within a later buffer')
  t.same(unwritten(buffers, 8), [], 'all written: nothing')
  t.equal(buffers[0]?.toString(), 'abc', 'the buffers given are left as they were')
})
