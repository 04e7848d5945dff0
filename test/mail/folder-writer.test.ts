import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { FolderWriter } from '../../src/mail/folder-writer.ts'
import { tempDataDir } from '../helpers/app.ts'

t.test('files written together land whole under their names, with no temporary file left', async (t) => {
  const folder = path.join(tempDataDir(t), 'mail')
  const writer = new FolderWriter()
  t.teardown(() => writer.close())
  const files = Array.from({ length: 200 }, (_, i) => ({ file: path.join(folder, `${i}.eml`), data: `message ${i}\n` }))
  await Promise.all(files.map(({ file, data }) => writer.write(file, data)))
  t.same(
    files.map(({ file }) => fs.readFileSync(file, 'utf8')),
    files.map(({ data }) => data),
    'every file holds its own message; the missing folder was made',
  )
  t.same(
    fs.readdirSync(folder).filter((f) => f.endsWith('.tmp')),
    [],
  )

  fs.rmSync(folder, { recursive: true })
  await writer.write(path.join(folder, 'again.eml'), 'again')
  t.equal(fs.readFileSync(path.join(folder, 'again.eml'), 'utf8'), 'again', 'a folder removed meanwhile is made again')
})

t.test('a file that cannot be written fails alone; the others of its batch are written', async (t) => {
  const dir = tempDataDir(t)
  fs.writeFileSync(path.join(dir, 'not-a-folder'), '')
  const writer = new FolderWriter()
  t.teardown(() => writer.close())
  const [bad, good] = await Promise.allSettled([
    writer.write(path.join(dir, 'not-a-folder', 'x.eml'), 'x'),
    writer.write(path.join(dir, 'y.eml'), 'y'),
  ])
  t.equal(bad?.status, 'rejected')
  t.match((bad as PromiseRejectedResult).reason, { code: 'ENOTDIR' }, 'with the system error code, for the retry rules')
  t.equal(good?.status, 'fulfilled')
  t.equal(fs.readFileSync(path.join(dir, 'y.eml'), 'utf8'), 'y')
})

t.test('a thread that dies fails what it held, and the next write starts a new one', async (t) => {
  const dir = tempDataDir(t)
  const writer = new FolderWriter()
  t.teardown(() => writer.close())
  await writer.write(path.join(dir, 'a.eml'), 'a')
  const pending = writer.write(path.join(dir, 'b.eml'), 'b')
  // What a crash of the thread looks like to the writer: it exits with the write unanswered.
  await writer.close()
  await t.rejects(pending, /stopped/)
  await writer.write(path.join(dir, 'c.eml'), 'c')
  t.equal(fs.readFileSync(path.join(dir, 'c.eml'), 'utf8'), 'c')
})
