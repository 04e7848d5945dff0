import type { Job as BullJob, Worker } from 'bullmq'
import type { Logger } from 'pino'
import type { AttemptRecorder } from '../runner-core.ts'
import type { Job, Lane } from '../types.ts'
import type { BullData, BullProgress } from './data.ts'

/**
 * How long a deferred job waits before a worker takes it again: long enough that an owner's backlog is not handed
 * round the workers in a loop, short enough that its next job starts soon after one of its own ends. The jitter
 * keeps a backlog's jobs from coming back all at once.
 */
const DEFER_MS = 500
const deferMs = () => DEFER_MS + Math.floor(Math.random() * DEFER_MS)

/**
 * How the runner core's verbs are written on BullMQ, for one take of a job. BullMQ records an attempt's end itself,
 * from what the processor returns or throws (runner.ts): a success and a cancel write nothing here, a retry and a
 * failure only the progress clients read (the error, when the next attempt is due), and the job's moves back to the
 * queue are BullMQ's own.
 */
export function bullRecorder(
  worker: Worker,
  lane: Lane,
  bullJob: BullJob<BullData>,
  job: Job,
  token: string | undefined,
  log: Logger,
): AttemptRecorder {
  const progress: BullProgress = { stage: null, lastError: job.lastError, runAt: null }
  const settle = (lastError: BullProgress['lastError'], runAt: number | null) =>
    bullJob
      .updateProgress({ stage: null, lastError, runAt, started: progress.started })
      .catch((err) => log.warn({ err, jobId: job.id }, 'error not recorded'))
  return {
    // BullMQ records the outcome itself from what the processor returns or throws.
    succeed: async () => {},
    retry: (error, runAt) => settle(error, runAt),
    fail: (error) => settle(error, null),
    // The store marked the job (BullData.cancelled) before asking: failing it is all that is left.
    cancel: async () => {},
    // Back in the queue, due now, this attempt not spent on a failure.
    release: () => bullJob.moveToDelayed(Date.now(), token),
    // Its owner has its share running here: back in the delayed set for a moment, as if never taken. Job's own
    // moveToDelayed leaves attemptsStarted counting this take, which GET /jobs/:id shows as an attempt; the
    // backend's does the same move (no attempt made) and puts that count back (`ats`, BullMQ's field for it), in
    // one script.
    defer: async () => {
      await worker.backend.moveToDelayed(bullJob.id as string, Date.now(), deferMs(), token, {
        skipAttempt: true,
        fieldsToUpdate: { ats: Math.max(0, bullJob.attemptsStarted - 1) },
      })
    },
    // A take of a lane with a share shows as running only from here (begun, in data.ts): until the
    // share is checked it might be handed back. One more write to Redis per job, in those lanes only.
    started:
      lane.perOwner === undefined
        ? undefined
        : async () => {
            progress.started = bullJob.attemptsStarted
            await bullJob.updateProgress({ ...progress, begun: true })
          },
    setStage: async (stage) => {
      progress.stage = stage
      await bullJob.updateProgress({ ...progress })
    },
  }
}
