import { createWriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { DependencyDown } from '../dependencies.ts'
import type { ObjectStore, StoredObject } from './object-store.ts'

export interface S3StoreOptions {
  /** `s3://bucket/prefix`: every key is stored under the prefix, so deployments may share a bucket. */
  url: string
  endpoint: string | undefined
  region: string | undefined
  forcePathStyle: boolean
  /** DEPENDENCY_TIMEOUT_MS: a bucket that does not connect or answer in this long is down. */
  timeoutMs: number
}

/** DeleteObjects takes at most this many keys per call (the S3 API's limit). */
const DELETE_BATCH = 1000

/** The bucket and the key prefix of an `s3://bucket/prefix` URL. */
export function parseStorageUrl(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url)
  if (!match) throw new Error(`Expected s3://bucket[/prefix] but received ${url}`)
  const prefix = (match[2] as string).replace(/\/+$/, '')
  return { bucket: match[1] as string, prefix: prefix ? `${prefix}/` : '' }
}

/**
 * Objects in an S3-compatible bucket (S3, R2, B2, MinIO, Ceph…). Credentials come from the AWS SDK's own chain
 * (environment, shared files, instance roles), never from a setting of deckhand's.
 */
export function createS3Store(options: S3StoreOptions): ObjectStore {
  const { bucket, prefix } = parseStorageUrl(options.url)
  const client = new S3Client({
    endpoint: options.endpoint,
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: options.forcePathStyle,
    // The SDK's default CRC32 checksums are refused by R2, B2 and others, and s3rver stores a streamed body with
    // its chunk framing: checksums only where the API demands them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // A bucket out of reach must cost a request DEPENDENCY_TIMEOUT_MS at most, not the SDK's patient retries:
    // one attempt, and the retry is the job's (its backoff) or the client's (503 with Retry-After).
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: options.timeoutMs,
      // Silence on the socket, not the length of a transfer: a large original may take longer than this to send.
      socketTimeout: options.timeoutMs,
    }),
  })
  const Bucket = bucket
  const Key = (key: string) => `${prefix}${key}`

  /**
   * One request, aborted when no answer has come within DEPENDENCY_TIMEOUT_MS, so that neither the caller nor a
   * socket of the pool waits on a silent bucket. The deadline ends with the answer's headers: a body streamed
   * afterwards (a served avatar) is bounded by its socket's silence (`socketTimeout`) instead.
   */
  const call = async <T>(send: (abortSignal: AbortSignal) => Promise<T>, missingIsAnswer = false) => {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), options.timeoutMs)
    try {
      return await asStorageFailure(send(controller.signal), missingIsAnswer)
    } catch (err) {
      if (!controller.signal.aborted || isMissing(err)) throw err
      throw new DependencyDown('storage', `no answer within ${options.timeoutMs} ms`, { cause: err })
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    async putFile(key, file, headers = {}) {
      const body = (await fs.open(file, 'r')).createReadStream()
      const params = {
        Bucket,
        Key: Key(key),
        Body: body,
        // Without them the bucket answers application/octet-stream, and a client's cache guesses.
        ContentType: headers.contentType,
        CacheControl: headers.cacheControl,
      }
      try {
        // Parts of 5 MiB, sent in parallel beyond that: one PutObject for an avatar, multipart for a large file.
        await asStorageFailure(new Upload({ client, params }).done())
      } finally {
        body.destroy()
      }
    },
    async getFile(key, file) {
      const body = await this.get(key)
      if (!body) return false
      await asStorageFailure(pipeline(body, createWriteStream(file)))
      return true
    },
    async get(key) {
      try {
        const answer = await call(
          (abortSignal) => client.send(new GetObjectCommand({ Bucket, Key: Key(key) }), { abortSignal }),
          true,
        )
        return answer.Body as Readable
      } catch (err) {
        if (isMissing(err)) return undefined
        throw err
      }
    },
    async head(key) {
      try {
        const answer = await call(
          (abortSignal) => client.send(new HeadObjectCommand({ Bucket, Key: Key(key) }), { abortSignal }),
          true,
        )
        return { key, bytes: answer.ContentLength ?? 0, modifiedMs: answer.LastModified?.getTime() ?? 0 }
      } catch (err) {
        if (isMissing(err)) return undefined
        throw err
      }
    },
    async delete(key) {
      await call((abortSignal) => client.send(new DeleteObjectCommand({ Bucket, Key: Key(key) }), { abortSignal }))
    },
    async deletePrefix(keyPrefix) {
      let count = 0
      let batch: string[] = []
      const flush = async () => {
        const Objects = batch.map((k) => ({ Key: Key(k) }))
        batch = []
        const command = new DeleteObjectsCommand({ Bucket, Delete: { Objects, Quiet: true } })
        const send = () => call((abortSignal) => client.send(command, { abortSignal }))
        // Deleting is idempotent, so a 5xx (S3's InternalError, which it asks clients to retry; s3rver's race
        // between two keys of one folder) gets one more try here, where the SDK's own retries are off.
        const answer = await send().catch((err: unknown) => {
          if (!answeredWith5xx(err)) throw err
          return send()
        })
        // Quiet: the answer lists only the keys that could not be deleted.
        const failed = answer.Errors ?? []
        if (failed.length > 0) {
          throw new DependencyDown('storage', `${failed.length} objects not deleted: ${failed[0]?.Code ?? 'error'}`)
        }
      }
      for await (const object of this.list(keyPrefix)) {
        batch.push(object.key)
        count++
        if (batch.length >= DELETE_BATCH) await flush()
      }
      if (batch.length > 0) await flush()
      return count
    },
    list(keyPrefix) {
      return listAll(keyPrefix)
    },
    async signedUrl(key, expiresInSeconds) {
      return getSignedUrl(client, new GetObjectCommand({ Bucket, Key: Key(key) }), { expiresIn: expiresInSeconds })
    },
    async check() {
      await call((abortSignal) => client.send(new HeadBucketCommand({ Bucket }), { abortSignal }))
    },
    close() {
      client.destroy()
    },
  }

  async function* listAll(keyPrefix: string): AsyncGenerator<StoredObject> {
    let ContinuationToken: string | undefined
    do {
      const command = new ListObjectsV2Command({ Bucket, Prefix: Key(keyPrefix), ContinuationToken })
      const page = await call((abortSignal) => client.send(command, { abortSignal }))
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue
        yield {
          key: object.Key.slice(prefix.length),
          bytes: object.Size ?? 0,
          modifiedMs: object.LastModified?.getTime() ?? 0,
        }
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (ContinuationToken)
  }
}

/** Whether the bucket answered, with a server error: a fault on its side that a repeat may not meet. */
function answeredWith5xx(err: unknown): boolean {
  const status = ((err as { cause?: { $metadata?: { httpStatusCode?: number } } }).cause?.$metadata?.httpStatusCode ??
    0) as number
  return status >= 500
}

/** A key that is not there: the one answer of the bucket that is not a fault. */
function isMissing(err: unknown): boolean {
  // HeadObject's 404 has no body to name it: NotFound. A missing bucket is NoSuchBucket, a fault.
  const { name } = err as { name?: string }
  return name === 'NoSuchKey' || name === 'NotFound'
}

/**
 * Every failure but a missing key (where the caller asks about one) is the bucket's, not the request's: refused, cut off, timed out, a 5xx, or a bucket that is
 * missing or refuses our credentials. Each becomes DependencyDown, a 503 for a request and a retry for a job.
 */
async function asStorageFailure<T>(work: Promise<T>, missingIsAnswer = false): Promise<T> {
  try {
    return await work
  } catch (err) {
    if (err instanceof DependencyDown || (missingIsAnswer && isMissing(err))) throw err
    throw new DependencyDown('storage', reasonOf(err), { cause: err })
  }
}

function reasonOf(err: unknown): string {
  const { code, name, $metadata } = err as { code?: unknown; name?: string; $metadata?: { httpStatusCode?: number } }
  if (typeof code === 'string') return code
  if (err instanceof AggregateError) return reasonOf(err.errors[0])
  if ($metadata?.httpStatusCode) return `${name ?? 'error'} (HTTP ${$metadata.httpStatusCode})`
  return name ?? 'unreachable'
}
