import fs from 'node:fs'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { receiveToFile } from '../../src/storage/files.ts'
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
