import { buildApp } from './app.ts'
import { ConfigError, loadConfig } from './config.ts'

let config: ReturnType<typeof loadConfig>
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`deckhand: ${err.message}`)
  process.exit(1)
}

const app = await buildApp(config)
await app.listen({ port: config.PORT, host: config.HOST })

let closing = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down: no new requests, running jobs get the grace period')
    // Should close() itself hang (a socket that never drains), leave anyway: queued work is on disk.
    setTimeout(() => {
      app.log.error('shutdown took too long; exiting')
      process.exit(1)
    }, config.SHUTDOWN_GRACE_MS + 5000).unref()
    app.close().then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'error while shutting down')
        process.exit(1)
      },
    )
  })
}
