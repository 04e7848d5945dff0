// The Piscina task: runs inside a worker thread and knows nothing of HTTP or the journal.
import { workerData } from 'node:worker_threads'
import { type AvatarOutcome, type AvatarTask, renderAvatar } from '../src/images/avatar-pipeline.ts'
import { lowerImageThreadPriority } from '../src/images/thread-priority.ts'

const nice = Number((workerData as { nice?: number } | undefined)?.nice ?? 0)

export default async function avatarTask(task: AvatarTask): Promise<AvatarOutcome> {
  lowerImageThreadPriority(nice)
  try {
    return await renderAvatar(task)
  } finally {
    // libvips starts threads as it needs them; the ones this task brought are lowered too.
    lowerImageThreadPriority(nice)
  }
}
