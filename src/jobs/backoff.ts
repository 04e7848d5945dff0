/**
 * Delay before retry number `attempt` (1 = the first retry): exponential from `baseMs`, capped at `maxMs`,
 * with jitter (between half and all of the delay) so that jobs which failed together (an SMTP outage) do not retry in lockstep.
 */
export function retryDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1))
  // Never below half the ceiling: a retry storm right after an outage helps nobody.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}
