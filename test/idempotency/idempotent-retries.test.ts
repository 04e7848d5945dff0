import t from 'tap'
import { tempDataDir } from '../helpers/app.ts'
import { idempotentRetryScenarios, sqliteBackend } from '../helpers/idempotent-retries.ts'

// A lost 201, racing retries and a SIGKILL between commit and answer, on the SQLite journal. BullMQ with
// PostgreSQL: test/scale-out/idempotent-retries.test.ts.
idempotentRetryScenarios(t, sqliteBackend(tempDataDir(t)))
