import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import S3rver from 's3rver'

/*
 * A real S3 protocol server for the tests: s3rver (SigV4, multipart, ListObjectsV2, DeleteObjects), in process,
 * on a free port, over a temporary folder. It is an npm package like the tests themselves, so nothing skips.
 */

interface Teardown {
  teardown(fn: () => unknown): void
}

// The standard AWS chain reads these; s3rver accepts only its own pair.
process.env.AWS_ACCESS_KEY_ID = 'S3RVER'
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER'

export interface TestBucket {
  bucket: string
  endpoint: string
  /** The settings that point deckhand at this bucket, under `prefix`. */
  env(prefix?: string): Record<string, string>
  /** Every key in the bucket, from s3rver's own folder (not through the protocol under test). */
  keys(): string[]
  /** Dates an object's last write back to `when`, as the sweeps see it. */
  age(key: string, when: Date): void
  /** Stops answering: connections to the port are refused. */
  stop(): Promise<void>
  /** Answers again on the same port, with the same objects. */
  start(): Promise<void>
}

export async function startS3rver(t: Teardown, bucket = 'deckhand'): Promise<TestBucket> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-s3-'))
  let port = 0
  let server: S3rver | undefined
  const start = async () => {
    server = new S3rver({ port, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket }] })
    port = (await server.run()).port
  }
  const stop = async () => {
    if (!server) return
    const closing = server.close()
    // A bucket that goes away drops its connections: s3rver's close() alone would wait for each to end.
    server.httpServer?.closeAllConnections()
    await closing
    server = undefined
  }
  await start()
  t.teardown(async () => {
    await stop()
    fs.rmSync(directory, { recursive: true, force: true })
  })
  const endpoint = `http://127.0.0.1:${port}`
  return {
    bucket,
    endpoint,
    env: (prefix = 'test') => ({
      STORAGE_URL: `s3://${bucket}/${prefix}`,
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
    }),
    keys: () => listKeys(path.join(directory, bucket)),
    age: (key, when) => fs.utimesSync(path.join(directory, bucket, `${key}${OBJECT_SUFFIX}`), when, when),
    stop,
    start,
  }
}

/** s3rver keeps each object as `<key>._S3rver_object` beside its metadata files; its mtime is LastModified. */
const OBJECT_SUFFIX = '._S3rver_object'

function listKeys(root: string): string[] {
  const suffix = OBJECT_SUFFIX
  const keys: string[] = []
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.name.endsWith(suffix)) keys.push(path.relative(root, full).slice(0, -suffix.length))
    }
  }
  if (fs.existsSync(root)) walk(root)
  return keys.sort()
}
