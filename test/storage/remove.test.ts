import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { removeFile, removeFolder } from '../../src/storage/files.ts'
import { tempDataDir } from '../helpers/app.ts'

t.test('a folder is removed whole, and its count is of the files not hidden', async (t) => {
  const dir = tempDataDir(t)
  const top = path.join(dir, 'version')
  fs.mkdirSync(path.join(top, 'nested', 'deeper'), { recursive: true })
  for (const name of ['64.webp', '128.avif', '.64.webp.tmp']) fs.writeFileSync(path.join(top, name), name)
  fs.writeFileSync(path.join(top, 'nested', 'a'), 'a')
  fs.writeFileSync(path.join(top, 'nested', 'deeper', 'b'), 'b')
  fs.symlinkSync(path.join(top, '64.webp'), path.join(top, 'link'))
  t.equal(await removeFolder(top), 4, 'two files, and two in the folders below; not the hidden copy, not the link')
  t.notOk(fs.existsSync(top), 'nothing is left')
  t.equal(await removeFolder(top), 0, 'a folder that is not there holds nothing')
  fs.writeFileSync(path.join(dir, 'file'), 'x')
  t.equal(await removeFolder(path.join(dir, 'file')), 0, 'a file is not a folder: left alone')
  t.ok(fs.existsSync(path.join(dir, 'file')))
})

t.test('a file is removed, and one already gone is no error', async (t) => {
  const dir = tempDataDir(t)
  const file = path.join(dir, 'x')
  fs.writeFileSync(file, 'x')
  await removeFile(file)
  t.notOk(fs.existsSync(file))
  await removeFile(file)
  fs.mkdirSync(path.join(dir, 'folder'))
  await t.rejects(removeFile(path.join(dir, 'folder')), 'a folder is not removed as a file')
})
