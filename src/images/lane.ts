import { defineLane } from '../jobs/kind.ts'

/** Fed only as many jobs as the pool has threads: the rest wait in the journal, not in memory. */
export const imageLane = defineLane({ name: 'images', concurrency: (config) => config.poolThreads })
