import t from 'tap'
import { tempDataDir } from '../helpers/app.ts'
import { bullBackend, idempotentRetryScenarios } from '../helpers/idempotent-retries.ts'
import { servicesAvailable } from '../helpers/services.ts'

// A lost 201, racing retries (two processes racing too) and a SIGKILL between commit and answer, on BullMQ with
// users and the outbox in PostgreSQL. The SQLite journal: test/idempotency/idempotent-retries.test.ts.
if (await servicesAvailable(t)) idempotentRetryScenarios(t, await bullBackend(t, tempDataDir(t)))
