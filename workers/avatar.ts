// The avatar feature's tasks in the image pool (src/images/pool.ts): each runs inside a worker thread and knows
// nothing of HTTP or the journal.
import { renderAvatar as render, type renderAvatarTask } from '../src/avatars/render.ts'
import { type ImageTaskFunction, inImageThread } from '../src/images/task.ts'

export const renderAvatar: ImageTaskFunction<typeof renderAvatarTask> = inImageThread(render)
