// The mail folder's writing thread: each mail composed and written, in the batches src/mail/folder-writer.ts sends;
// never HTTP or the journal.
import fs from 'node:fs'
import path from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import { composeMail } from '../src/mail/compose.ts'
import type { WriteAnswer, WriteFile, WriteRequest, WriterData } from '../src/mail/folder-writer.ts'

const { from } = workerData as WriterData

/** To its temporary name, then renamed into place: a reader never sees half a message. */
function write({ file, mail }: WriteFile): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`)
  fs.writeFileSync(tmp, composeMail(mail, from, new Date(), '\n'))
  fs.renameSync(tmp, file)
}

function writeMakingFolder(f: WriteFile): void {
  try {
    write(f)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    fs.mkdirSync(path.dirname(f.file), { recursive: true })
    write(f)
  }
}

const port = parentPort
if (!port) throw new Error('workers/mail-folder-writer.ts runs as a worker thread')
port.on('message', ({ batch, files }: WriteRequest) => {
  const errors = files.map((f) => {
    try {
      writeMakingFolder(f)
      return null
    } catch (err) {
      const { message, code } = err as NodeJS.ErrnoException
      return code === undefined ? { message } : { message, code }
    }
  })
  port.postMessage({ batch, errors } satisfies WriteAnswer)
})
