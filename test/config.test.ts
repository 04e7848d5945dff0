import path from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.ts'
import { runServerExpectingFailure } from './helpers/server-process.ts'

t.test('defaults run the whole service on embedded parts', async (t) => {
  const config = loadConfig({})
  t.equal(config.PORT, 3000)
  t.equal(config.dataDir, path.resolve('./data'))
  t.equal(config.SMTP_URL, undefined, 'no SMTP: mail goes to the mail folder')
  t.equal(config.MAX_ATTEMPTS, 5)
  t.equal(config.SQLITE_SYNCHRONOUS, 'FULL')
  t.equal(config.ADMIN_AUTH_FAILURES_MAX, 10, 'ten wrong admin tokens an address')
  t.equal(config.ADMIN_AUTH_FAILURES_WINDOW_MS, 900_000, 'per 15 minutes')
  t.equal(config.WEBHOOK_CONCURRENCY_PER_USER, 2)
  t.equal(
    loadConfig({ WEBHOOK_CONCURRENCY: '1' }).WEBHOOK_CONCURRENCY_PER_USER,
    1,
    "unset, a user's webhook share is never more than the lane",
  )
  t.equal(config.MAX_PENDING_JOBS_PER_USER, 100)
  t.equal(
    loadConfig({ MAX_PENDING_JOBS: '2' }).MAX_PENDING_JOBS_PER_USER,
    2,
    "unset, a user's share of the pending jobs is never more than the whole",
  )
  t.equal(loadConfig({ MAX_PENDING_JOBS_PER_USER: '0' }).MAX_PENDING_JOBS_PER_USER, 0, '0 turns the share off')
})

t.test('values are read from the environment and converted to their types', async (t) => {
  const config = loadConfig({
    PORT: '8080',
    MAX_ATTEMPTS: '2',
    SMTP_URL: 'smtp://mail:25',
    LOG_LEVEL: 'debug',
    HOST: '',
  })
  t.equal(config.PORT, 8080)
  t.equal(config.MAX_ATTEMPTS, 2)
  t.equal(config.SMTP_URL, 'smtp://mail:25')
  t.equal(config.LOG_LEVEL, 'debug')
  t.equal(config.HOST, '127.0.0.1', 'an empty variable counts as unset')
})

t.test('a bad value stops start-up with a message naming every bad variable', async (t) => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ PORT: 'eighty' }, /PORT="eighty"/],
    [{ PORT: '70000' }, /PORT/],
    [{ MAX_ATTEMPTS: '0' }, /MAX_ATTEMPTS/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ SMTP_URL: 'http://mail' }, /SMTP_URL/],
    [{ ADMIN_EMAIL: 'nobody' }, /ADMIN_EMAIL/],
    [{ SQLITE_SYNCHRONOUS: 'OFF' }, /SQLITE_SYNCHRONOUS/],
    [{ RETRY_BASE_MS: '5000', RETRY_MAX_MS: '10' }, /RETRY_MAX_MS/],
    [{ HEADERS_TIMEOUT_MS: '20000', REQUEST_TIMEOUT_MS: '10000' }, /HEADERS_TIMEOUT_MS/],
    [{ WEBHOOK_CONCURRENCY: '4', WEBHOOK_CONCURRENCY_PER_USER: '5' }, /WEBHOOK_CONCURRENCY_PER_USER.*exceed/],
    [{ WEBHOOK_CONCURRENCY_PER_USER: '0' }, /WEBHOOK_CONCURRENCY_PER_USER/],
    [{ MAX_PENDING_JOBS: '50', MAX_PENDING_JOBS_PER_USER: '51' }, /MAX_PENDING_JOBS_PER_USER: must not exceed/],
    [{ MAX_PENDING_JOBS_PER_USER: '-1' }, /MAX_PENDING_JOBS_PER_USER/],
    [{ AVATAR_SIZES: '64,0' }, /AVATAR_SIZES/],
    [{ AVATAR_FORMATS: 'webp,gif' }, /AVATAR_FORMATS/],
    [{ ADMIN_TOKEN: 'short' }, /ADMIN_TOKEN/],
    [{ ADMIN_AUTH_FAILURES_MAX: '-1' }, /ADMIN_AUTH_FAILURES_MAX/],
    [{ ADMIN_AUTH_FAILURES_WINDOW_MS: '999' }, /ADMIN_AUTH_FAILURES_WINDOW_MS/],
  ]
  for (const [env, message] of bad) {
    t.throws(() => loadConfig(env), ConfigError, JSON.stringify(env))
    t.throws(() => loadConfig(env), { message }, JSON.stringify(env))
  }
  t.throws(() => loadConfig({ PORT: 'x', MAX_ATTEMPTS: 'y' }), { message: /PORT[\s\S]*MAX_ATTEMPTS/ }, 'all at once')
})

t.test('a setting that takes one of a few words lists them, and every bad setting is named at once', async (t) => {
  const env = { LOG_LEVEL: 'verbose', PORT: 'x', QUEUE: 'kafka', SQLITE_SYNCHRONOUS: 'OFF', MAX_ATTEMPTS: '0' }
  let message = ''
  try {
    loadConfig(env)
  } catch (err) {
    message = (err as Error).message
  }
  t.match(message, 'LOG_LEVEL="verbose": must be one of fatal, error, warn, info, debug, trace, silent')
  t.match(message, 'QUEUE="kafka": must be one of journal, bullmq')
  t.match(message, 'SQLITE_SYNCHRONOUS="OFF": must be one of FULL, NORMAL')
  for (const name of Object.keys(env)) t.match(message, name, `${name} is named`)
  t.notMatch(message, /equal to constant/)
  // Only what was set wrong: a setting left unset is not a problem.
  t.equal(message.trim().split('\n').length, 1 + Object.keys(env).length)
})

t.test('a bad secret is named with its rule, its value never shown', async (t) => {
  const secret = 'pw-0d5a1c'
  const bad: Record<string, string>[] = [
    { ADMIN_TOKEN: secret },
    { METRICS_TOKEN: secret },
    { DATABASE_URL: `mysql://deckhand:${secret}@db:3306/deckhand` },
    { REDIS_URL: `http://:${secret}@redis:6379` },
    { SMTP_URL: `smtpx://mailer:${secret}@mail:587` },
    { STORAGE_URL: `s3://AKIAKEY:${secret}@bucket/avatars` },
    { S3_ENDPOINT: `ftp://minio:${secret}@minio:9000` },
    { DASHBOARD_WORKER_URLS: `http://ops:${secret}@worker-1:3000, http://worker-2:3000` },
  ]
  for (const env of bad) {
    const [name] = Object.keys(env) as [string]
    const err = t.throws(() => loadConfig(env), ConfigError) as Error
    t.match(err.message, new RegExp(`${name} \\(value not shown\\): must`), `${name} is named, with its rule`)
    t.notMatch(err.message, secret, `${name}'s value is not in the message`)
  }
  t.match(
    (t.throws(() => loadConfig({ ADMIN_TOKEN: secret })) as Error).message,
    /ADMIN_TOKEN \(value not shown\): must not have fewer than 16 characters/,
  )
  const { code, stderr } = await runServerExpectingFailure({ ADMIN_TOKEN: secret })
  t.equal(code, 1)
  t.notMatch(stderr, secret, 'nor in what the process prints')
})

t.test('the server process refuses to start on a bad value and says which', async (t) => {
  const { code, stderr } = await runServerExpectingFailure({ MAIL_CONCURRENCY: 'many' })
  t.equal(code, 1)
  t.match(stderr, /deckhand: invalid configuration/)
  t.match(stderr, /MAIL_CONCURRENCY="many"/)
})

t.test('retention: each setting on its own, 0 keeps jobs for ever, the sweep at least every second', async (t) => {
  const defaults = loadConfig({})
  t.equal(defaults.JOB_RETENTION_MS, 7 * 24 * 3600 * 1000, 'succeeded jobs: 7 days')
  t.equal(defaults.FAILED_JOB_RETENTION_MS, 30 * 24 * 3600 * 1000, 'failed jobs: 30 days')
  t.equal(defaults.RETENTION_SWEEP_MS, 60_000)

  const succeeded = loadConfig({ JOB_RETENTION_MS: '3600000' })
  t.equal(succeeded.JOB_RETENTION_MS, 3_600_000)
  t.equal(succeeded.FAILED_JOB_RETENTION_MS, defaults.FAILED_JOB_RETENTION_MS, 'the other is untouched')
  const failed = loadConfig({ FAILED_JOB_RETENTION_MS: '0' })
  t.equal(failed.FAILED_JOB_RETENTION_MS, 0, '0: failed jobs are kept')
  t.equal(failed.JOB_RETENTION_MS, defaults.JOB_RETENTION_MS)
  t.equal(loadConfig({ RETENTION_SWEEP_MS: '5000' }).RETENTION_SWEEP_MS, 5000)

  for (const [env, message] of [
    [{ JOB_RETENTION_MS: '-1' }, /JOB_RETENTION_MS/],
    [{ JOB_RETENTION_MS: 'week' }, /JOB_RETENTION_MS="week"/],
    [{ FAILED_JOB_RETENTION_MS: '30d' }, /FAILED_JOB_RETENTION_MS="30d"/],
    [{ RETENTION_SWEEP_MS: '0' }, /RETENTION_SWEEP_MS/],
    [{ RETENTION_SWEEP_MS: '999' }, /RETENTION_SWEEP_MS/],
  ] as [Record<string, string>, RegExp][]) {
    t.throws(() => loadConfig(env), { message }, JSON.stringify(env))
  }
})

t.test('object storage: STORAGE_URL selects a bucket; its settings are checked at start-up', async (t) => {
  const folder = loadConfig({})
  t.equal(folder.STORAGE_URL, undefined, 'unset: the folder')
  t.equal(folder.S3_FORCE_PATH_STYLE, false)
  t.equal(folder.AVATAR_REDIRECT, false)
  const bucket = loadConfig({
    STORAGE_URL: 's3://avatars/deckhand',
    S3_ENDPOINT: 'http://127.0.0.1:9000',
    S3_REGION: 'eu-west-1',
    S3_FORCE_PATH_STYLE: 'true',
    AVATAR_REDIRECT: 'true',
    AVATAR_REDIRECT_EXPIRES_S: '600',
  })
  t.equal(bucket.STORAGE_URL, 's3://avatars/deckhand')
  t.equal(bucket.S3_ENDPOINT, 'http://127.0.0.1:9000')
  t.equal(bucket.S3_REGION, 'eu-west-1')
  t.equal(bucket.S3_FORCE_PATH_STYLE, true)
  t.equal(bucket.AVATAR_REDIRECT, true)
  t.equal(bucket.AVATAR_REDIRECT_EXPIRES_S, 600)

  for (const [env, message] of [
    [{ STORAGE_URL: 'https://bucket.s3.amazonaws.com' }, /STORAGE_URL/],
    [{ STORAGE_URL: 's3://' }, /STORAGE_URL/],
    [{ S3_ENDPOINT: 'minio:9000' }, /S3_ENDPOINT \(value not shown\): must match pattern/],
    [{ S3_REGION: 'EU West' }, /S3_REGION/],
    [{ S3_FORCE_PATH_STYLE: 'sometimes' }, /S3_FORCE_PATH_STYLE/],
    [{ STORAGE_URL: 's3://b', AVATAR_REDIRECT: 'maybe' }, /AVATAR_REDIRECT/],
    [{ STORAGE_URL: 's3://b', AVATAR_REDIRECT_EXPIRES_S: '604801' }, /AVATAR_REDIRECT_EXPIRES_S/],
    [{ STORAGE_URL: 's3://b', STORAGE_DIR: '/mnt/shared' }, /STORAGE_DIR: must not be set with STORAGE_URL/],
    [{ AVATAR_REDIRECT: 'true' }, /AVATAR_REDIRECT: needs STORAGE_URL/],
  ] as [Record<string, string>, RegExp][]) {
    t.throws(() => loadConfig(env), { message }, JSON.stringify(env))
  }
})
