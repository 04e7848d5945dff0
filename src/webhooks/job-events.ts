import { type Database, transact } from '../db/database.ts'
import { jobView } from '../jobs/job-view.ts'
import type { Job, JobStore } from '../jobs/types.ts'
import { webhookDeliveryJob } from './kinds.ts'
import type { WebhooksRepository } from './repository.ts'

export interface JobEventDeps {
  database: Database
  queue: JobStore
  webhooks: WebhooksRepository
}

/**
 * Queues the owner's webhook delivery of a finished job's event (its kind's KindEvents: `avatar.ready` when an
 * avatar job succeeds), with the job's public view as its data. Called by the runner before the job's outcome is
 * written, so a crash in between runs the job again and queues the delivery again: at least once, never lost.
 */
export function webhookJobEvents(deps: JobEventDeps): (job: Job, event: string) => Promise<void> {
  return async (job, event) => {
    if (!(await deps.webhooks.get(job.ownerId))) return
    const payload = { userId: job.ownerId, event, data: jobView(job), occurredAt: job.finishedAt ?? Date.now() }
    await transact(deps.database, (tx) => deps.queue.enqueue(tx, [webhookDeliveryJob.job(job.ownerId, payload)]))
  }
}
