import { AvatarKind } from '../avatars/job.ts'
import { type Database, transact } from '../db/database.ts'
import { jobView } from '../jobs/job-view.ts'
import type { Job, JobStore } from '../jobs/types.ts'
import { WebhookDeliveryKind, type WebhookDeliveryPayload, type WebhookEvent } from './kinds.ts'
import type { WebhooksRepository } from './repository.ts'

export interface AvatarWebhookDeps {
  database: Database
  queue: JobStore
  webhooks: WebhooksRepository
}

/**
 * Queues the owner's webhook delivery when an avatar job has finished: `avatar.ready` or `avatar.failed`, with
 * the job's public view as its data. Called by the runner before the job's outcome is written, so a crash in
 * between runs the job again and queues the delivery again: at least once, never lost.
 */
export function avatarWebhookEvents(deps: AvatarWebhookDeps): (job: Job) => Promise<void> {
  return async (job) => {
    if (job.kind !== AvatarKind) return
    if (!(await deps.webhooks.get(job.ownerId))) return
    const event: WebhookEvent = job.status === 'succeeded' ? 'avatar.ready' : 'avatar.failed'
    const payload: WebhookDeliveryPayload = {
      userId: job.ownerId,
      event,
      data: jobView(job),
      occurredAt: job.finishedAt ?? Date.now(),
    }
    await transact(deps.database, (tx) =>
      deps.queue.enqueue(tx, [{ kind: WebhookDeliveryKind, ownerId: job.ownerId, payload }]),
    )
  }
}
