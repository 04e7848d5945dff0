/*
 * One owner's pending jobs of a kind in BullMQ, for MAX_PENDING_JOBS_PER_USER: an index per owner, and the script
 * that counts it.
 */

/**
 * The Redis set of one owner's job ids of a kind handed to BullMQ and perhaps not finished: an index of where to
 * look, not a count. The store adds at hand-over (idempotent, so a relayed second hand-over is harmless), the runner
 * removes at the end of a job, and pendingCountOf() checks every member against its job and drops those finished or
 * gone. A member left behind by a crash is therefore dropped at the next count, never counted, and the count reads
 * only that owner's jobs, however many others wait. In the queue's keyspace, so that an obliterated queue takes it.
 */
export const ownerSetKey = (prefix: string, kind: string, ownerId: string) => `${prefix}:${kind}:pending-of:${ownerId}`

/**
 * KEYS[1]: an owner's set (ownerSetKey); ARGV[1]: the queue's job key prefix; ARGV[2..]: that owner's ids still in
 * the outbox. Counts the members whose job exists and has not finished (BullMQ sets finishedOn only at the end,
 * and clears it when a failed job is retried), drops the others, and adds the outbox ids not among them: one
 * script, so a hand-over between reads cannot count a job twice.
 */
export const COUNT_OWNER_PENDING = `
local pending = {}
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local job = redis.call('HMGET', ARGV[1] .. id, 'timestamp', 'finishedOn')
  if job[1] and not job[2] then
    pending[id] = true
    n = n + 1
  else
    redis.call('SREM', KEYS[1], id)
  end
end
for i = 2, #ARGV do
  if not pending[ARGV[i]] then n = n + 1 end
end
return n
`
