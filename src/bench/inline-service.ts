// Phase 5's service: deckhand in one process as `npm start` runs it, but with every image task run on the main
// thread (inline-pool.ts), to show what the pool buys. Stops on SIGTERM, as the bench stops its services.
import { buildApp, startJobs } from '../app.ts'
import { loadConfig } from '../config.ts'
import { inlineImagePool } from './inline-pool.ts'

const config = loadConfig()
const app = await buildApp(config, { imagePool: inlineImagePool(), deferJobs: true })
await app.listen({ port: config.PORT, host: config.HOST })
await startJobs(app)
process.once('SIGTERM', () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
})
