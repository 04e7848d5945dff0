import os from 'node:os'
import path from 'node:path'
import { type Static, type TSchema, Type } from 'typebox'
import { Value } from 'typebox/value'

const Int = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description })

/**
 * Every setting deckhand reads, with its default and bounds. This schema is the one source for
 * start-up validation and for the README's configuration table.
 */
/*
 * The avatar formats AVATAR_FORMATS may name, besides the JPEG every client reads. Declared here, the bottom layer,
 * as the setting validates against them; avatars/formats.ts builds its output formats on this list and checks it
 * against what the render pipeline can encode.
 */
export const OPTIONAL_AVATAR_FORMATS = ['webp', 'avif'] as const
export type OptionalAvatarFormat = (typeof OPTIONAL_AVATAR_FORMATS)[number]

export const ConfigSchema = Type.Object({
  PORT: Int(3000, 0, 65535, 'TCP port to listen on (0 picks a free one)'),
  HOST: Type.String({ default: '127.0.0.1', minLength: 1, description: 'Address to bind; 0.0.0.0 in containers' }),
  DATA_DIR: Type.String({ default: './data', minLength: 1, description: 'SQLite journal, mail outbox, images' }),
  STORAGE_DIR: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Uploads and avatar files; a folder every api and worker node mounts when they are several; unset: DATA_DIR',
    }),
  ),
  STORAGE_URL: Type.Optional(
    Type.String({
      pattern: '^s3://[A-Za-z0-9.-]+(/.*)?$',
      description:
        's3://bucket/prefix keeps uploads and avatars in S3-compatible object storage, so no node needs a shared folder; unset: STORAGE_DIR',
    }),
  ),
  S3_ENDPOINT: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description: 'With STORAGE_URL: the S3-compatible service (R2, B2, MinIO, Ceph…); unset: AWS S3',
    }),
  ),
  S3_REGION: Type.Optional(
    Type.String({
      pattern: '^[a-z0-9-]+$',
      description: "With STORAGE_URL: the bucket's region; unset: AWS_REGION, else us-east-1",
    }),
  ),
  S3_FORCE_PATH_STYLE: Type.Boolean({
    default: false,
    description: 'With STORAGE_URL: address the bucket as endpoint/bucket/key rather than bucket.endpoint (MinIO)',
  }),
  AVATAR_REDIRECT: Type.Boolean({
    default: false,
    description:
      'With STORAGE_URL: GET /users/:id/avatar answers 302 to a presigned URL of the bucket instead of streaming it',
  }),
  AVATAR_REDIRECT_EXPIRES_S: Int(
    3600,
    60,
    604_800,
    'With AVATAR_REDIRECT: how long a presigned avatar URL stays valid, in seconds (S3 allows 7 days at most)',
  ),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level' },
  ),
  SMTP_URL: Type.Optional(
    Type.String({ pattern: '^smtps?://', description: 'smtp(s)://user:pass@host:port; unset writes .eml files' }),
  ),
  MAIL_FROM: Type.String({ default: 'deckhand <no-reply@deckhand.local>', minLength: 3, description: 'From header' }),
  ADMIN_EMAIL: Type.String({
    default: 'admin@deckhand.local',
    format: 'email',
    description: 'Receives a notice of each signup',
  }),
  // A mail holds its slot from its claim to its recorded end (two group commits and the writer's round trip), so
  // the lane's rate is this ÷ that time: 16 held it near 3,000 mails a second while the event loop sat idle
  // (src/bench/RESULTS.md, the mail lane's concurrency).
  MAIL_CONCURRENCY: Int(48, 1, 256, 'Mail jobs sent at once'),
  SMTP_MAX_CONNECTIONS: Int(
    16,
    1,
    256,
    "Connections nodemailer's SMTP pool opens at most; mails beyond them wait in the pool for a free one",
  ),
  MAIL_TIMEOUT_MS: Int(30_000, 100, 600_000, 'SMTP connection, greeting and socket timeout'),
  MAX_ATTEMPTS: Int(5, 1, 100, 'Tries per job before it is marked failed'),
  RETRY_BASE_MS: Int(
    1000,
    1,
    3_600_000,
    'First retry delay; doubles per attempt, each drawn between half and all of it',
  ),
  RETRY_MAX_MS: Int(300_000, 1, 86_400_000, 'Cap on one retry delay'),
  POLL_INTERVAL_MS: Int(1000, 10, 60_000, 'Longest the dispatcher sleeps between looks at the journal'),
  CANCEL_WAIT_MS: Int(
    2000,
    0,
    60_000,
    'Longest DELETE /jobs/:id waits for a running job to stop before it answers 202 (the job stops regardless)',
  ),
  JOB_WAIT_MAX_MS: Int(
    30_000,
    0,
    300_000,
    'Longest GET /jobs/:id holds a request that sent Prefer: wait=N for its job to finish; 0 never waits',
  ),
  JOB_WAITERS_MAX: Int(
    1000,
    0,
    100_000,
    'Requests that may wait for jobs at once; past this they are answered at once',
  ),
  JOB_WAITERS_PER_USER: Int(
    16,
    1,
    100_000,
    "One user's share of JOB_WAITERS_MAX; past it that user's requests are answered at once",
  ),
  JOB_EVENTS_HEARTBEAT_MS: Int(
    15_000,
    100,
    300_000,
    'How often an open GET /jobs/:id/events stream gets a comment line, so proxies do not cut it as idle',
  ),
  WEBHOOK_TIMEOUT_MS: Int(10_000, 100, 60_000, 'Longest one webhook delivery may take, connecting included'),
  WEBHOOK_CONCURRENCY: Int(16, 1, 256, 'Webhook deliveries sent at once (on the event loop, beside mail)'),
  WEBHOOK_CONCURRENCY_PER_USER: Int(
    2,
    1,
    256,
    "One user's share of WEBHOOK_CONCURRENCY (at most that): a slow receiver holds only its owner's slots; with QUEUE=bullmq, per worker process",
  ),
  WEBHOOK_ALLOW_INSECURE: Type.Boolean({
    default: false,
    description: 'Development and tests only: accept http:// webhook URLs (otherwise https only)',
  }),
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({
    default: false,
    description:
      'Development and tests only: deliver webhooks to loopback, private and link-local addresses (the SSRF guard off)',
  }),
  SHUTDOWN_GRACE_MS: Int(10_000, 0, 600_000, 'On SIGTERM, how long running jobs may finish'),
  JOB_RETENTION_MS: Int(
    604_800_000,
    0,
    3_153_600_000_000,
    'Succeeded jobs are deleted this long after they finished (7 days); 0 keeps them for ever',
  ),
  FAILED_JOB_RETENTION_MS: Int(
    2_592_000_000,
    0,
    3_153_600_000_000,
    'Failed jobs (and the originals kept for a retry) are deleted this long after they failed (30 days); 0 keeps them',
  ),
  RETENTION_SWEEP_MS: Int(
    60_000,
    1000,
    86_400_000,
    'How often finished jobs past their retention, and files no job or avatar points to, are swept',
  ),
  IDEMPOTENCY_TTL_MS: Int(
    86_400_000,
    1000,
    2_592_000_000,
    'A request retried with the same Idempotency-Key within this long (24 hours) gets the first answer again; then the key is forgotten',
  ),
  BODY_LIMIT_BYTES: Int(16_384, 256, 1_048_576, 'Largest JSON request body'),
  MAX_UPLOAD_BYTES: Int(10 * 1024 * 1024, 1024, 1024 * 1024 * 1024, 'Largest avatar upload'),
  MAX_INPUT_PIXELS: Int(40_000_000, 1, 1_000_000_000, 'Largest image (width × height, from its header) accepted'),
  AVATAR_SIZES: Type.String({
    default: '64,128,256,512',
    pattern: '^\\d{1,4}(,\\d{1,4})*$',
    description: 'Square sizes made of every avatar, in pixels',
  }),
  AVATAR_FORMATS: Type.String({
    default: 'webp,avif',
    pattern: `^(${OPTIONAL_AVATAR_FORMATS.join('|')})(,(${OPTIONAL_AVATAR_FORMATS.join('|')}))*$`,
    description: 'Formats made besides the JPEG fallback',
  }),
  POOL_THREADS: Int(0, 0, 64, 'Image worker threads; 0 means one per CPU core'),
  POOL_IDLE_TIMEOUT_MS: Int(60_000, 0, 3_600_000, 'An idle worker thread exits after this long'),
  POOL_MAX_QUEUE: Int(64, 0, 100_000, 'Tasks that may wait inside the pool; the rest wait in the journal'),
  POOL_MAX_HEAP_MB: Int(256, 16, 16_384, "A worker's V8 heap limit (libvips' native memory is not counted)"),
  IMAGE_THREAD_NICE: Int(19, 0, 19, 'Nice value of image threads (Linux): the event loop wins the CPU; 0 disables'),
  IMAGE_TIMEOUT_MS: Int(60_000, 100, 3_600_000, 'One avatar job may run this long before it is aborted'),
  SUPERSEDE_AVATAR_UPLOADS: Type.Boolean({
    default: true,
    description:
      "A user's new avatar upload cancels that user's older avatar job still queued or running (SUPERSEDED): only the last is made",
  }),
  SIGNUP_RATE_MAX: Int(20, 0, 1_000_000, 'Signups one IP address may make per window; 0 turns the limit off'),
  SIGNUP_RATE_WINDOW_MS: Int(60_000, 1000, 86_400_000, 'The signup rate window'),
  UPLOAD_RATE_MAX: Int(10, 0, 1_000_000, 'Avatar uploads one user may make per window; 0 turns the limit off'),
  UPLOAD_RATE_WINDOW_MS: Int(60_000, 1000, 86_400_000, 'The upload rate window'),
  MAX_PENDING_JOBS: Int(
    1000,
    1,
    10_000_000,
    'Image jobs queued or running, plus uploads still arriving, beyond which uploads get 503 SERVICE_BUSY',
  ),
  MAX_PENDING_JOBS_PER_USER: Int(
    100,
    0,
    10_000_000,
    "One user's share of MAX_PENDING_JOBS (at most that): past it that user's uploads get 429 TOO_MANY_PENDING_JOBS while others' go on; 0 turns the share off",
  ),
  MAX_UPLOADS_IN_FLIGHT_PER_USER: Int(
    2,
    0,
    100_000,
    'Uploads one user may have arriving at once (more: 429 UPLOADS_IN_FLIGHT); 0 turns the limit off',
  ),
  MAX_UPLOADS_IN_FLIGHT_PER_IP: Int(
    16,
    0,
    100_000,
    'Uploads one client address may have arriving at once (more: 429 UPLOADS_IN_FLIGHT); 0 turns the limit off',
  ),
  MIN_FREE_DISK_BYTES: Int(
    256 * 1024 * 1024,
    0,
    Number.MAX_SAFE_INTEGER,
    'Free space under STORAGE_DIR below which uploads get 503',
  ),
  ADMIN_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'Bearer token for /admin; unset turns the admin API off' }),
  ),
  ADMIN_AUTH_FAILURES_MAX: Int(
    10,
    0,
    1_000_000,
    'Wrong admin tokens (dashboard logins, /admin requests) one address may send per window; 0 turns the limit off',
  ),
  ADMIN_AUTH_FAILURES_WINDOW_MS: Int(900_000, 1000, 86_400_000, 'The window of ADMIN_AUTH_FAILURES_MAX'),
  DASHBOARD_SESSION_MS: Int(
    28_800_000,
    60_000,
    604_800_000,
    'How long a dashboard login lasts (8 hours); changing ADMIN_TOKEN ends every session at once',
  ),
  DASHBOARD_WORKER_URLS: Type.Optional(
    Type.String({
      pattern: '^https?://[^,\\s]+(,https?://[^,\\s]+)*$',
      description:
        "QUEUE=bullmq: the workers' base URLs (http://host:PORT, comma-separated) whose GET /metrics an open dashboard reads each second",
    }),
  ),
  METRICS_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'Bearer token for /metrics; unset leaves /metrics open' }),
  ),
  REQUEST_TIMEOUT_MS: Int(120_000, 1000, 3_600_000, 'Longest a client may take to send a whole request'),
  HEADERS_TIMEOUT_MS: Int(10_000, 1000, 600_000, 'Longest a client may take to send the request headers'),
  KEEP_ALIVE_TIMEOUT_MS: Int(72_000, 1000, 600_000, 'Idle keep-alive connections are closed after this long'),
  QUEUE: Type.Union([Type.Literal('journal'), Type.Literal('bullmq')], {
    default: 'journal',
    description:
      '`journal`: jobs in the database, run by this process; `bullmq`: jobs in Redis, run by any number of workers',
  }),
  REDIS_URL: Type.Optional(
    Type.String({ pattern: '^rediss?://', description: 'redis://[:pass@]host:6379[/db], for QUEUE=bullmq' }),
  ),
  QUEUE_PREFIX: Type.String({
    default: 'deckhand',
    pattern: '^[A-Za-z0-9_-]+$',
    description: 'Prefix of every BullMQ key in Redis: deployments sharing a Redis keep apart by it',
  }),
  STALLED_AFTER_MS: Int(
    30_000,
    1000,
    600_000,
    'QUEUE=bullmq: a job whose worker stopped renewing its lock (died) is given to another worker after this long',
  ),
  DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description:
        'postgres://user:pass@host:5432/db puts users, avatars and the outbox in PostgreSQL; unset uses SQLite',
    }),
  ),
  DATABASE_POOL_SIZE: Int(10, 1, 1000, 'PostgreSQL connections per process'),
  DEPENDENCY_TIMEOUT_MS: Int(
    1500,
    100,
    600_000,
    'Longest a request waits for Redis or PostgreSQL to connect or answer one command; then 503 DEPENDENCY_UNAVAILABLE',
  ),
  SQLITE_SYNCHRONOUS: Type.Union([Type.Literal('FULL'), Type.Literal('NORMAL')], {
    default: 'FULL',
    description:
      'FULL: what clients are told was accepted survives power loss (WAL fsynced first); NORMAL: crashes only',
  }),
})

export type Env = Static<typeof ConfigSchema>
export type Config = Env & {
  dataDir: string
  storageDir: string
  avatarSizes: number[]
  avatarFormats: OptionalAvatarFormat[]
  poolThreads: number
}

/**
 * Settings whose value is, or may hold, a secret: tokens, and URLs that may carry a user and password (a value
 * malformed enough to be refused may still hold them). A bad one is named in the error, its value never shown:
 * start-up errors end up in logs that more people read than should see the token.
 */
const SECRET_SETTINGS: ReadonlySet<string> = new Set<keyof Env>([
  'ADMIN_TOKEN',
  'METRICS_TOKEN',
  'DATABASE_URL',
  'REDIS_URL',
  'SMTP_URL',
  'STORAGE_URL',
  'S3_ENDPOINT',
  'DASHBOARD_WORKER_URLS',
])

interface SettingSchema {
  description?: string
  anyOf?: { const?: unknown }[]
}

/** "must be one of …" for a setting that takes one of a few words, where the schema's own words would say
 * "must be equal to constant" once per word. */
function allowedValues(schema: SettingSchema | undefined): string | undefined {
  const words = schema?.anyOf?.map((branch) => branch.const)
  if (!words || words.length === 0 || words.some((w) => w === undefined)) return undefined
  return `must be one of ${words.join(', ')}`
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads the environment once, fills defaults and throws a ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known: Record<string, string> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key]
    // An empty variable means "not set", as in most shells' `VAR= cmd`.
    if (value !== undefined && value !== '') known[key] = value
  }
  // Before parsing: Convert and Default fill `known` in place.
  const shareSet = known.WEBHOOK_CONCURRENCY_PER_USER !== undefined
  const pendingShareSet = known.MAX_PENDING_JOBS_PER_USER !== undefined
  const parsed = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, known))
  if (!Value.Check(ConfigSchema, parsed)) {
    // Setting by setting: TypeBox stops listing errors after a few, and a union of words fails once per word.
    const problems: string[] = []
    for (const [name, schema] of Object.entries(ConfigSchema.properties) as [string, TSchema & SettingSchema][]) {
      const value = (parsed as Record<string, unknown>)[name]
      // Unset and optional: nothing to check.
      if (
        value === undefined
          ? !(ConfigSchema.required as string[] | undefined)?.includes(name)
          : Value.Check(schema, value)
      )
        continue
      const [first] = Value.Errors(schema, value)
      const shown = SECRET_SETTINGS.has(name) ? `${name} (value not shown)` : `${name}=${JSON.stringify(known[name])}`
      problems.push(`${shown}: ${allowedValues(schema) ?? first?.message} (${schema.description ?? 'setting'})`)
    }
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`)
  }
  if (parsed.RETRY_MAX_MS < parsed.RETRY_BASE_MS) {
    throw new ConfigError('invalid configuration:\n  RETRY_MAX_MS: must be at least RETRY_BASE_MS')
  }
  if (parsed.HEADERS_TIMEOUT_MS > parsed.REQUEST_TIMEOUT_MS) {
    // Node enforces the request timeout only once the headers timeout has passed.
    throw new ConfigError('invalid configuration:\n  HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS')
  }
  // Left unset, the share is the default or the whole lane if that is smaller: WEBHOOK_CONCURRENCY=1 alone still starts.
  if (!shareSet) {
    parsed.WEBHOOK_CONCURRENCY_PER_USER = Math.min(parsed.WEBHOOK_CONCURRENCY_PER_USER, parsed.WEBHOOK_CONCURRENCY)
  }
  if (parsed.WEBHOOK_CONCURRENCY_PER_USER > parsed.WEBHOOK_CONCURRENCY) {
    throw new ConfigError(
      'invalid configuration:\n  WEBHOOK_CONCURRENCY_PER_USER: must not exceed WEBHOOK_CONCURRENCY (a share of it)',
    )
  }
  // Likewise: MAX_PENDING_JOBS=2 alone still starts, each user's share then the whole.
  if (!pendingShareSet) {
    parsed.MAX_PENDING_JOBS_PER_USER = Math.min(parsed.MAX_PENDING_JOBS_PER_USER, parsed.MAX_PENDING_JOBS)
  }
  if (parsed.MAX_PENDING_JOBS_PER_USER > parsed.MAX_PENDING_JOBS) {
    throw new ConfigError(
      'invalid configuration:\n  MAX_PENDING_JOBS_PER_USER: must not exceed MAX_PENDING_JOBS (a share of it; 0 turns it off)',
    )
  }
  if (parsed.STORAGE_URL && parsed.STORAGE_DIR) {
    throw new ConfigError(
      'invalid configuration:\n  STORAGE_DIR: must not be set with STORAGE_URL (one place for files)',
    )
  }
  if (parsed.AVATAR_REDIRECT && !parsed.STORAGE_URL) {
    throw new ConfigError(
      'invalid configuration:\n  AVATAR_REDIRECT: needs STORAGE_URL (a folder has no URLs to send to)',
    )
  }
  if (parsed.QUEUE === 'bullmq' && !parsed.REDIS_URL) {
    throw new ConfigError('invalid configuration:\n  REDIS_URL: must be set when QUEUE=bullmq')
  }
  const avatarSizes = [...new Set(parsed.AVATAR_SIZES.split(',').map(Number))].sort((a, b) => a - b)
  if (avatarSizes.some((n) => n < 1 || n > 4096)) {
    throw new ConfigError('invalid configuration:\n  AVATAR_SIZES: every size must be from 1 to 4096')
  }
  return {
    ...parsed,
    dataDir: path.resolve(parsed.DATA_DIR),
    storageDir: path.resolve(parsed.STORAGE_DIR ?? parsed.DATA_DIR),
    avatarSizes,
    avatarFormats: [...new Set(parsed.AVATAR_FORMATS.split(','))] as OptionalAvatarFormat[],
    poolThreads: parsed.POOL_THREADS || os.availableParallelism(),
  }
}
