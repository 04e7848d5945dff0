import { jobView } from './job-view.ts'
import { isFinished } from './statuses.ts'
import type { Job, JobChange, JobStatus } from './types.ts'

type ChangeListener = (change: JobChange) => void

/**
 * The store's changes handed to the event streams of each job: one listener on the store for the process, and a
 * map lookup per change, so a stream hears only of its own job however many are open.
 */
export class JobChangeHub {
  readonly #byJob = new Map<string, Set<ChangeListener>>()

  publish(change: JobChange): void {
    const set = this.#byJob.get(change.id)
    if (set) for (const listener of [...set]) listener(change)
  }

  /** Calls `listener` with each change of job `id` until the returned function is called. */
  subscribe(id: string, listener: ChangeListener): () => void {
    const set = this.#byJob.get(id) ?? new Set()
    this.#byJob.set(id, set)
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0 && this.#byJob.get(id) === set) this.#byJob.delete(id)
    }
  }
}

/** One Server-Sent Event of a job's lifecycle; `event` is the job's status. */
export interface JobEvent {
  id: string
  event: JobStatus
  data: unknown
}

const isFinal = isFinished

/**
 * The event id of a state: the status and the stage (`running.resizing`, `succeeded`). Made from the state, not
 * counted, so that any api process can tell whether a client that reconnects with `Last-Event-ID` has the
 * current state already. A retry's second attempt repeats its first's ids: the client's state is the same.
 */
export const stateId = (status: JobStatus, stage: string | null) => (stage ? `${status}.${stage}` : status)

/** The event of a job as read: a final one carries the job's whole view (as GET /jobs/:id), others its progress. */
export function jobEvent(job: Job): JobEvent {
  const id = stateId(job.status, job.stage)
  if (isFinal(job.status)) return { id, event: job.status, data: jobView(job) }
  return { id, event: job.status, data: progress(job.id, job.status, job.stage) }
}

const progress = (id: string, status: JobStatus, stage: string | null) =>
  stage ? { id, status, stage } : { id, status }

export interface FollowOptions {
  /** The job as it is now, read from the store. */
  job: Job
  read: () => Promise<Job | undefined>
  subscribe: (listener: ChangeListener) => () => void
  /** What the client had when it reconnected: its current state is not sent again. */
  lastEventId: string | undefined
  /** Changes are best effort (a Redis reconnect may drop one): the job is read again this often regardless. */
  pollMs: number
  /** The client went away, or the service is closing. */
  signal: AbortSignal
}

/**
 * A job's events from now on: its current state at once (unless the client has it), each change as it comes,
 * and the final event, after which it ends; it also ends when `signal` aborts or the job disappears.
 */
export async function* followJob(options: FollowOptions): AsyncGenerator<JobEvent> {
  const { read, signal, pollMs } = options
  const pending: JobChange[] = []
  let wake: (() => void) | undefined
  const unsubscribe = options.subscribe((change) => {
    pending.push(change)
    wake?.()
  })
  const onAbort = () => wake?.()
  signal.addEventListener('abort', onAbort)
  try {
    let job: Job | undefined = options.job
    let last = options.lastEventId
    // Changes that came while the route read the job are in what it read.
    pending.length = 0
    const current = jobEvent(job)
    if (current.id !== last) {
      last = current.id
      yield current
    }
    while (job && !isFinal(job.status) && !signal.aborted) {
      if (pending.length === 0) {
        let timer: NodeJS.Timeout | undefined
        await new Promise<void>((resolve) => {
          wake = resolve
          timer = setTimeout(resolve, pollMs)
        })
        clearTimeout(timer)
        wake = undefined
      }
      if (signal.aborted) break
      const changes = pending.splice(0)
      // A final change, or a look after the poll interval: the job as stored, the final event's whole body.
      if (changes.length === 0 || changes.some((c) => isFinal(c.status))) {
        // A store out of reach for a moment (Redis, PostgreSQL) costs this look, not the stream: the next poll
        // looks again.
        const looked = await read().then(
          (found) => ({ found }),
          () => undefined,
        )
        if (!looked) continue
        job = looked.found
        if (!job) break
        const event = jobEvent(job)
        if (event.id !== last) {
          last = event.id
          yield event
        }
        continue
      }
      // Steps on the way are told as they came, even those a read would no longer see.
      for (const change of changes) {
        const id = stateId(change.status, change.stage)
        if (id === last) continue
        last = id
        yield { id, event: change.status, data: progress(change.id, change.status, change.stage) }
      }
    }
  } finally {
    unsubscribe()
    signal.removeEventListener('abort', onAbort)
  }
}
