import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { moveDurably, syncToDisk } from '../../src/storage/files.ts'

t.test('a move into the folder store flushes the file it moved, not only its name, before it resolves', async (t) => {
  // What a power cut would show cannot be made here; what can be seen is that both fsyncs were asked for. Without
  // the file's own, a variant sharp wrote could be found empty after the cut, with the journal pointing at it.
  const dir = t.testdir({ 'variant.webp': 'pixels', version: {} })
  const to = path.join(dir, 'version', 'variant.webp')
  const synced: string[] = []
  const watched = async (p: string) => {
    synced.push(p)
    await syncToDisk(p)
  }
  await moveDurably(path.join(dir, 'variant.webp'), to, watched, watched)
  t.same(synced.sort(), [path.join(dir, 'version'), to], 'the folder and the file itself were fsynced')
  t.equal(fs.readFileSync(to, 'utf8'), 'pixels')
  t.notOk(fs.existsSync(path.join(dir, 'variant.webp')), 'moved, not copied')
})

t.test('a move that fails fsyncs nothing and leaves the file where it was', async (t) => {
  const dir = t.testdir({ 'variant.webp': 'pixels' })
  const synced: string[] = []
  const watched = async (p: string) => void synced.push(p)
  const to = path.join(dir, 'no-such-folder', 'variant.webp')
  await t.rejects(moveDurably(path.join(dir, 'variant.webp'), to, watched, watched), { code: 'ENOENT' })
  t.same(synced, [])
  t.ok(fs.existsSync(path.join(dir, 'variant.webp')))
})
