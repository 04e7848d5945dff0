import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { type AppOptions, buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { errorWatcher, type WatchErrors } from '../../src/error-events.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** Settings that keep tests quick and quiet: fast retries, a short poll, no log lines. */
export const fastEnv = {
  LOG_LEVEL: 'silent',
  RETRY_BASE_MS: '20',
  RETRY_MAX_MS: '100',
  POLL_INTERVAL_MS: '50',
  SHUTDOWN_GRACE_MS: '2000',
  // Tests sign many users up from one address; the limits have tests of their own.
  SIGNUP_RATE_MAX: '0',
  UPLOAD_RATE_MAX: '0',
  MAX_UPLOADS_IN_FLIGHT_PER_USER: '0',
  MAX_UPLOADS_IN_FLIGHT_PER_IP: '0',
  MIN_FREE_DISK_BYTES: '0',
  // Tests upload several avatars per user and follow each to its end; supersede has its own (test/jobs/cancel.test.ts).
  SUPERSEDE_AVATAR_UPLOADS: 'false',
}

/** For parts built without an app: their 'error' events are listened to, as the service does, but not logged. */
export const watchErrorsQuietly: WatchErrors = errorWatcher(pino({ level: 'silent' }), () => {})

/** A fresh DATA_DIR, removed when the test ends. */
export function tempDataDir(t: Teardown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-test-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The real app on a temporary DATA_DIR, ready (dispatcher running), closed when the test ends. */
export async function startApp(
  t: Teardown,
  env: Record<string, string> = {},
  options: AppOptions = {},
): Promise<FastifyInstance> {
  const config = loadConfig({ ...fastEnv, DATA_DIR: tempDataDir(t), ...env })
  const app = await buildApp(config, options)
  t.teardown(() => app.close())
  await app.ready()
  return app
}

/** Rows in one of deckhand's tables, read through the app's own database connection. */
export async function countRows(app: FastifyInstance, table: 'users' | 'jobs' | 'avatars' | 'outbox') {
  const row = await app.database.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

export interface SignedUp {
  id: string
  token: string
  jobs: { id: string; kind: string }[]
}

/**
 * POST /signup, in process (`inject`) or over real HTTP to a server process's base URL; resolves with the 201
 * body or throws.
 */
export async function signup(target: FastifyInstance | string, email: string, name?: string): Promise<SignedUp> {
  const payload = name ? { email, name } : { email }
  if (typeof target === 'string') {
    const res = await fetch(`${target}/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    })
    if (res.status !== 201) throw new Error(`signup ${email}: ${res.status} ${await res.text()}`)
    return (await res.json()) as SignedUp
  }
  const res = await target.inject({ method: 'POST', url: '/signup', payload })
  if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export async function getJob(app: FastifyInstance, user: SignedUp, jobId: string) {
  const res = await app.inject({ url: `/jobs/${jobId}`, headers: { authorization: `Bearer ${user.token}` } })
  return res.json()
}

export const fixture = (name: string) => new URL(`../../fixtures/images/${name}`, import.meta.url).pathname

/** PUT /users/:id/avatar with the raw bytes of a fixture. */
export function uploadRaw(app: FastifyInstance, user: SignedUp, name: string, contentType = 'image/jpeg') {
  return app.inject({
    method: 'PUT',
    url: `/users/${user.id}/avatar`,
    headers: { authorization: `Bearer ${user.token}`, 'content-type': contentType },
    payload: fs.readFileSync(fixture(name)),
  })
}

/** A multipart/form-data body with one file part, built by hand so the tests control every byte. */
export function multipartBody(field: string, filename: string, bytes: Buffer) {
  const boundary = `----deckhand${Math.random().toString(16).slice(2)}`
  const payload = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ])
  return { payload, contentType: `multipart/form-data; boundary=${boundary}` }
}

/**
 * Waits until a job has finished (succeeded, failed or cancelled) and returns its view: through the API's own
 * `Prefer: wait`, which holds each request until the job settles or JOB_WAIT_MAX_MS passes.
 */
export async function waitForJob(app: FastifyInstance, user: SignedUp, jobId: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const left = Math.ceil((deadline - Date.now()) / 1000)
    const res = await app.inject({
      url: `/jobs/${jobId}`,
      headers: { authorization: `Bearer ${user.token}`, prefer: `wait=${Math.max(left, 1)}` },
    })
    const job = res.json()
    if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled') return job
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status} after ${timeoutMs} ms`)
    // Not held (waiting switched off, or every waiter's place taken): look again shortly rather than spin.
    if (!res.headers['preference-applied']) await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** Where the folder store (STORAGE_DIR, else DATA_DIR) keeps each object, for tests that look at the files. */
export function storedFiles(app: FastifyInstance) {
  const root = app.config.storageDir
  return {
    originals: path.join(root, 'uploads', 'originals'),
    original: (name: string) => path.join(root, 'uploads', 'originals', name),
    avatars: path.join(root, 'avatars'),
    avatarVersion: (userId: string, version: string) => path.join(root, 'avatars', userId, version),
  }
}
