/** Every status a job can be in, in the order it passes through them: the one list the API, the tables and the queues use. */
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const

export type JobStatus = (typeof JOB_STATUSES)[number]
/** The statuses a job ends in; retention deletes jobs in these once they are old enough. */
export type FinishedStatus = Extract<JobStatus, 'succeeded' | 'failed' | 'cancelled'>

/** Whether a job has ended: nothing more will happen to it. */
export const isFinished = (status: JobStatus): status is FinishedStatus =>
  status === 'succeeded' || status === 'failed' || status === 'cancelled'
