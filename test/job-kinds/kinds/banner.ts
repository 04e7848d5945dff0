import { Type } from 'typebox'
import { imageLane } from '../../../src/images/lane.ts'
import type { ImagePool } from '../../../src/images/pool.ts'
import type { RenderOutcome } from '../../../src/images/render.ts'
import { imageTask } from '../../../src/images/task.ts'
import { defineJobKind } from '../../../src/jobs/kind.ts'
import type { BannerTask } from '../../images/banner-worker.ts'

/*
 * A job kind declared outside src/ that renders through the image pool: the task is a function a worker module
 * under test/ exports, run by name on the pool's threads, in the image lane beside avatars.
 */
const renderBanner = imageTask<BannerTask, RenderOutcome>(
  new URL('../../images/banner-worker.ts', import.meta.url),
  'renderBanner',
)

export const bannerJob = defineJobKind({
  name: 'test.banner',
  payload: Type.Object({ input: Type.String(), output: Type.String() }, { additionalProperties: false }),
  lane: imageLane,
  // Its task is named, so the pool's threads load its module as they start, beside the avatar's.
  poolTasks: [renderBanner],
  handler:
    ({ pool }: { pool: ImagePool }) =>
    async (job, ctx) => {
      ctx.setStage('rendering')
      await pool.run(renderBanner, job.payload, ctx.signal)
      return { banner: job.payload.output }
    },
})
