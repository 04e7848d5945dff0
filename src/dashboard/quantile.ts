/** A histogram's buckets as Prometheus keeps them: upper bound (`le`, Infinity last) and cumulative count. */
export type Buckets = readonly (readonly [le: number, count: number])[]

/**
 * The q-quantile of a bucketed histogram, interpolated linearly inside its bucket as PromQL's histogram_quantile
 * does; null when it counts nothing. A rank in the last bucket (+Inf) reports the largest finite bound: all that
 * is known is that it lies beyond it.
 */
export function bucketQuantile(q: number, buckets: Buckets): number | null {
  const total = buckets.at(-1)?.[1] ?? 0
  if (total <= 0) return null
  const rank = q * total
  let lowerBound = 0
  let lowerCount = 0
  for (const [le, count] of buckets) {
    if (count >= rank && count > lowerCount) {
      if (le === Number.POSITIVE_INFINITY) return lowerBound
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / (count - lowerCount)
    }
    if (le !== Number.POSITIVE_INFINITY) lowerBound = le
    lowerCount = count
  }
  return lowerBound
}
