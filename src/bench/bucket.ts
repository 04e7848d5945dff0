/**
 * An S3-compatible bucket for phase 6 (s3rver, a real S3 protocol server) in a process of its own, over a
 * temporary folder it removes when it ends. Prints its port on stdout once it answers.
 *   node --import tsx src/bench/bucket.ts
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import S3rver from 's3rver'

const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-bench-bucket-'))
const server = new S3rver({
  port: 0,
  address: '127.0.0.1',
  silent: true,
  directory,
  configureBuckets: [{ name: 'deckhand-bench' }],
})
const { port } = await server.run()
console.log(port)
process.once('SIGTERM', () => {
  void server.close().finally(() => {
    fs.rmSync(directory, { recursive: true, force: true })
    process.exit(0)
  })
})
