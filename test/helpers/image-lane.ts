import { imageLaneSlots } from '../../src/images/lane.ts'

/**
 * Uploads, one after another, as many jobs as the image lane runs at once with `poolThreads` threads
 * (src/images/lane.ts), so that the next upload stays queued in the journal. `upload(i)` sends the i-th and gives
 * its id; the ids come back in order. Tests that need a job to wait use this rather than counting the lane's slots.
 */
export async function fillImageLane<T>(poolThreads: number, upload: (i: number) => Promise<T>): Promise<[T, ...T[]]> {
  const ids: [T, ...T[]] = [await upload(0)]
  for (let i = 1; i < imageLaneSlots(poolThreads); i++) ids.push(await upload(i))
  return ids
}
