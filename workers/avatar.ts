// The Piscina task: runs inside a worker thread and knows nothing of HTTP or the journal.
import { type AvatarOutcome, type AvatarTask, renderAvatar } from '../src/images/avatar-pipeline.ts'

export default function avatarTask(task: AvatarTask): Promise<AvatarOutcome> {
  return renderAvatar(task)
}
