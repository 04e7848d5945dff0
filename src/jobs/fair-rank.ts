/*
 * Fair dispatch between owners, the same rule on both backends: start-time fair queuing. Each job of a fair kind
 * gets a rank at enqueue, and a kind's jobs are claimed lowest rank first (equal ranks first come, first served):
 *
 *   rank = max(the owner's last rank still queued + 1, the kind's front = the lowest rank queued and due)
 *
 * An owner's jobs therefore keep their order (each ranks above the one before), and an owner with nothing queued
 * lands at the front, beside the next job of each owner already waiting: it waits behind about one job of each
 * other active owner, not behind their backlogs. A backlog cannot starve anyone either: the front only rises as
 * jobs are claimed, so every rank is reached. The journal keeps the rank in jobs.fair_rank; BullMQ carries it as
 * the job's priority (lower first, first in first out within one), which its open-source edition has.
 */

/** The journal's rank for a job: `front` and `last` as above, undefined where nothing is queued. */
export function fairRank(front: number | undefined, last: number | undefined): number {
  return Math.max(last === undefined ? 0 : last + 1, front ?? 0)
}

/** BullMQ's highest priority (2^21 - 1): ranks are capped there. */
export const MAX_PRIORITY = 2 ** 21 - 1

/**
 * An owner's last rank in BullMQ lives in a key of its own, in the queue's keyspace (so an obliterated queue
 * takes it): the queued jobs themselves cannot be searched by owner there.
 */
export const ownerRankKey = (prefix: string, kind: string, ownerId: string) => `${prefix}:${kind}:fair-last:${ownerId}`

/**
 * How long an owner's last rank is kept after its last enqueue. It matters only while that owner has jobs queued:
 * past it, a job of theirs still waiting may be overtaken by their next one (the images' newest upload wins by
 * its number anyway). A day outlasts any backlog MAX_PENDING_JOBS allows; the keys are a few dozen bytes each.
 */
export const OWNER_RANK_TTL_SECONDS = 24 * 60 * 60

/**
 * BullMQ: the ranks of jobs about to be added, in order, as priorities. KEYS: for each job, its queue's
 * prioritized set and its owner's rank key (ownerRankKey); ARGV[1]: the key TTL in seconds, ARGV[2]: the cap.
 * The front is the priority of the set's first member (BullMQ scores a job priority * 2^32 + a counter); with
 * nothing waiting it starts again at 1, and owners' last ranks from before are ignored (none of theirs waits).
 * Ranks start at 1: a job of priority 0 goes to BullMQ's plain wait list, which is served before every priority.
 * At the cap an owner's jobs all take the cap, first in first out: a backlog of two million jobs without a pause.
 */
export const RANK_JOBS = `
local ttl = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local ranks = {}
for i = 1, #KEYS, 2 do
  local head = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  local rank = 1
  if head[2] then
    local front = math.floor(tonumber(head[2]) / 4294967296)
    local last = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
    rank = math.max(front, last + 1)
  end
  if rank > cap then rank = cap end
  redis.call('SET', KEYS[i + 1], rank, 'EX', ttl)
  ranks[#ranks + 1] = rank
end
return ranks
`
