// A worker module of no feature, for test/images/pool.test.ts: two named tasks, to show that the image pool runs
// any function a module under test/ exports, not only the avatar one.
import { threadId } from 'node:worker_threads'
import { type RenderOutcome, renderImage } from '../../src/images/render.ts'
import { inImageThread } from '../../src/images/task.ts'

export interface BannerTask {
  input: string
  output: string
}

/** A 320×80 WebP banner cropped about the centre of `input`. */
export const renderBanner = inImageThread(
  (task: BannerTask): Promise<RenderOutcome> =>
    renderImage({
      input: task.input,
      maxPixels: 50_000_000,
      timeoutSeconds: 30,
      crop: { width: 320, height: 80, position: 'centre' },
      outputs: [{ file: task.output, width: 320, height: 80, format: 'webp' }],
      placeholder: false,
    }),
)

/** Which thread it ran on, and its input back: no image at all. */
export async function whereAmI(input: { echo: string }): Promise<{ threadId: number; echo: string }> {
  return { threadId, echo: input.echo }
}
