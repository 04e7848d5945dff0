import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import t from 'tap'
import { mailFolderRetentionTask } from '../../src/mail/folder-retention.ts'

const HOUR = 3_600_000

t.test('the mail folder is read again only once its oldest file can be past retention', async (t) => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-mail-retention-'))
  t.teardown(() => fs.rmSync(folder, { recursive: true, force: true }))
  for (const name of ['a.eml', 'b.eml', 'c.eml']) fs.writeFileSync(path.join(folder, name), 'x')

  // Every pass lists the folder first: counting the listings of this folder counts the passes.
  const readdir = fsp.readdir
  let listings = 0
  fsp.readdir = ((dir: fs.PathLike, ...rest: unknown[]) => {
    if (String(dir) === folder) listings++
    return (readdir as (...args: unknown[]) => unknown)(dir, ...rest)
  }) as typeof fsp.readdir
  t.teardown(() => {
    fsp.readdir = readdir
  })

  let now = Date.now()
  const removed: number[] = []
  const task = mailFolderRetentionTask({
    folder,
    keepMs: HOUR,
    log: pino({ level: 'silent' }),
    clock: () => now,
    onRemoved: (count) => removed.push(count),
  })
  const never = () => false

  await task.run(never)
  t.equal(listings, 1, 'the first pass reads the folder: nothing is known of it')
  t.same(removed, [], 'and keeps three files written just now')

  now += HOUR / 2
  await task.run(never)
  now += HOUR / 2 - 1000
  await task.run(never)
  t.equal(listings, 1, 'within the hour no pass reads it: none of its files can be past retention yet')

  now += 2000
  await task.run(never)
  t.equal(listings, 2, 'once the oldest file kept can be past retention, a pass reads it again')
  t.same(removed, [3], 'and removes the three')
  t.same(fs.readdirSync(folder), [])
})
