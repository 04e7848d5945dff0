import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'

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
}

/** A fresh DATA_DIR, removed when the test ends. */
export function tempDataDir(t: Teardown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-test-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The real app on a temporary DATA_DIR, ready (dispatcher running), closed when the test ends. */
export async function startApp(t: Teardown, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({ ...fastEnv, DATA_DIR: tempDataDir(t), ...env })
  const app = await buildApp(config)
  t.teardown(() => app.close())
  await app.ready()
  return app
}

export interface SignedUp {
  id: string
  token: string
  jobs: { id: string; kind: string }[]
}

export async function signup(app: FastifyInstance, email: string, name?: string): Promise<SignedUp> {
  const res = await app.inject({ method: 'POST', url: '/signup', payload: name ? { email, name } : { email } })
  if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export async function getJob(app: FastifyInstance, user: SignedUp, jobId: string) {
  const res = await app.inject({ url: `/jobs/${jobId}`, headers: { authorization: `Bearer ${user.token}` } })
  return res.json()
}
