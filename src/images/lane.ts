import { defineLane } from '../jobs/kind.ts'

/**
 * One job more than the pool has threads: the rest wait in the journal, not in memory. The one more waits in the
 * pool's queue, so a thread starts its next image while a job's variants are published instead of idling; phase 2
 * went from 0.81–0.84 of the raw pipeline to 0.86–0.89 with it, and the noisy neighbour's ratio stayed within
 * its noise (src/bench/RESULTS.md, "The mail lane's concurrency (2026-12-06, evening)").
 */
export const imageLaneSlots = (poolThreads: number) => poolThreads + 1

export const imageLane = defineLane({ name: 'images', concurrency: (config) => imageLaneSlots(config.poolThreads) })
