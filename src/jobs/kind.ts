import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Config } from '../config.ts'
import type { CancelCleanup, CancelCleanups } from './cancel.ts'
import type { RetryCheck, RetryChecks } from './retry.ts'
import type { SweepTask } from './sweeper.ts'
import type { Job, JobHandler, Lane, NewJob } from './types.ts'

/**
 * A set of kinds sharing one concurrency budget: its jobs run at most `concurrency` at once in a process, and with
 * `perOwner` at most that many of one owner's, so one owner's slow jobs cannot hold every slot.
 */
export interface LaneDefinition {
  readonly name: string
  readonly concurrency: (config: Config) => number
  readonly perOwner?: (config: Config) => number
}

export const defineLane = (lane: LaneDefinition): LaneDefinition => lane

/** What a kind's job says to the outside when it ends (a webhook event's type), by how it ended. */
export interface KindEvents {
  readonly succeeded: string
  readonly failed: string
}

/**
 * A function a worker module exports that a kind's handler runs in the image pool (`ImageTask` of
 * src/images/task.ts): declared by the kind, so the pool's threads load its module as they start.
 */
export interface PoolTask {
  readonly filename: string
  readonly name: string
}

/**
 * The sweep of what a feature's jobs leave behind (files nothing points to any more), made once per process from
 * `F`; undefined where this process has nothing of it to sweep. Kinds that give the same function share one sweep.
 */
export type KindSweep<F> = (parts: F) => SweepTask | undefined

/**
 * One kind of job, declared by the feature that owns it, as Oban's workers and Graphile's task lists are: the
 * machinery is handed a list of these and never names a kind. `H` is what its handler is made from, `A` what its
 * api-side hooks (an admin's retry, a cancel) are made from, `F` what its sweep is made from: each kind names only
 * the parts it uses, and the list's type checks that the process has them.
 */
export interface JobKindDefinition<S extends TSchema, H, A, F> {
  /** Its name in the journal and in BullMQ (the queue's name): never renamed once jobs of it exist. */
  readonly name: string
  /** The payload's schema: a job is checked against it when it is made, before it can reach a queue. */
  readonly payload: S
  readonly lane: LaneDefinition
  /** Dispatched fairly between owners (src/jobs/fair-rank.ts): one owner's backlog does not hold up another's. */
  readonly fair?: boolean
  /** Its pending jobs are counted per owner (MAX_PENDING_JOBS_PER_USER). */
  readonly countedPerOwner?: boolean
  /** What its end is called to the outside (a user's webhook hears it); absent: nobody is told. */
  readonly events?: KindEvents
  /** Made once where jobs run. */
  readonly handler: (parts: H) => JobHandler<Static<S>>
  /** Why an admin's retry of a failed job cannot succeed; asked wherever the api runs. */
  readonly retryCheck?: (parts: A) => RetryCheck
  /** What a job called off before it ran leaves behind, removed. */
  readonly cancelCleanup?: (parts: A) => CancelCleanup
  /** The image pool's tasks its handler runs. */
  readonly poolTasks?: readonly PoolTask[]
  /** Its feature's sweep of the files its jobs leave behind, run with retention in every process. */
  readonly sweep?: KindSweep<F>
}

export interface JobKind<P = unknown, H = never, A = never, F = never> {
  readonly name: string
  readonly lane: LaneDefinition
  readonly fair: boolean
  readonly countedPerOwner: boolean
  readonly events: KindEvents | undefined
  readonly handler: (parts: H) => JobHandler<P>
  readonly retryCheck: ((parts: A) => RetryCheck) | undefined
  readonly cancelCleanup: ((parts: A) => CancelCleanup) | undefined
  readonly poolTasks: readonly PoolTask[]
  readonly sweep: KindSweep<F> | undefined
  /** A new job of this kind, its payload checked: what `JobStore.enqueue` is given. Throws on a payload unfit. */
  job(ownerId: string, payload: P): NewJob<P>
}

export function defineJobKind<S extends TSchema, H, A = unknown, F = unknown>(
  definition: JobKindDefinition<S, H, A, F>,
): JobKind<Static<S>, H, A, F> {
  const check = Compile(definition.payload)
  return {
    name: definition.name,
    lane: definition.lane,
    fair: definition.fair ?? false,
    countedPerOwner: definition.countedPerOwner ?? false,
    events: definition.events,
    handler: definition.handler,
    retryCheck: definition.retryCheck,
    cancelCleanup: definition.cancelCleanup,
    poolTasks: definition.poolTasks ?? [],
    sweep: definition.sweep,
    job(ownerId, payload) {
      // A producer's bug, caught where it is made rather than by a handler reading a job that can never run.
      if (!check.Check(payload)) {
        const [first] = check.Errors(payload)
        throw new TypeError(`a ${definition.name} job's payload is unfit: ${first?.instancePath} ${first?.message}`)
      }
      return { kind: definition.name, ownerId, payload }
    },
  }
}

// biome-ignore lint/suspicious/noExplicitAny: a list holds kinds of every payload; each handler checks its own.
type AnyKind<H, A, F> = JobKind<any, H, A, F>

/** What the machinery needs of the list of kinds, derived from it once: nothing outside a feature names a kind. */
export class JobKinds<H, A, F = never> {
  readonly #kinds: readonly AnyKind<H, A, F>[]
  readonly #byName: ReadonlyMap<string, AnyKind<H, A, F>>

  constructor(kinds: readonly AnyKind<H, A, F>[]) {
    const byName = new Map<string, AnyKind<H, A, F>>()
    for (const kind of kinds) {
      if (byName.has(kind.name)) throw new Error(`job kind "${kind.name}" is declared twice`)
      byName.set(kind.name, kind)
    }
    this.#kinds = kinds
    this.#byName = byName
  }

  /** Every kind's name: BullMQ's queues, and the metrics' labels from the first scrape on. */
  get names(): string[] {
    return this.#kinds.map((k) => k.name)
  }

  /** Kinds dispatched fairly between owners. */
  get fair(): string[] {
    return this.#names((k) => k.fair)
  }

  /** Kinds whose pending jobs are counted per owner. */
  get countedPerOwner(): string[] {
    return this.#names((k) => k.countedPerOwner)
  }

  /** Kinds of lanes with a per-owner share: a runner may take one of their jobs and hand it back unattempted. */
  get shared(): string[] {
    return this.#names((k) => k.lane.perOwner !== undefined)
  }

  /** The names of the kinds of one lane. */
  inLane(lane: LaneDefinition): string[] {
    return this.#names((k) => k.lane === lane)
  }

  /** The lanes the runners serve, each with its kinds' handlers made from `parts`. */
  lanes(config: Config, parts: H): Lane[] {
    const lanes = new Map<LaneDefinition, Lane>()
    for (const kind of this.#kinds) {
      let lane = lanes.get(kind.lane)
      if (!lane) {
        const { name, concurrency, perOwner } = kind.lane
        lane = { name, concurrency: concurrency(config), handlers: {} }
        if (perOwner) lane.perOwner = perOwner(config)
        lanes.set(kind.lane, lane)
      }
      lane.handlers[kind.name] = kind.handler(parts)
    }
    return [...lanes.values()]
  }

  retryChecks(parts: A): RetryChecks {
    return Object.fromEntries(this.#kinds.flatMap((k) => (k.retryCheck ? [[k.name, k.retryCheck(parts)]] : [])))
  }

  cancelCleanups(parts: A): CancelCleanups {
    return Object.fromEntries(this.#kinds.flatMap((k) => (k.cancelCleanup ? [[k.name, k.cancelCleanup(parts)]] : [])))
  }

  /** The image pool's tasks the kinds run, each once: the modules its threads load as they start. */
  get poolTasks(): PoolTask[] {
    const tasks = new Map<string, PoolTask>()
    for (const task of this.#kinds.flatMap((k) => k.poolTasks)) tasks.set(`${task.filename}#${task.name}`, task)
    return [...tasks.values()]
  }

  /** The kinds' sweeps of their files, each made once however many kinds give it. */
  sweeps(parts: F): SweepTask[] {
    const sweeps = new Set(this.#kinds.flatMap((k) => (k.sweep ? [k.sweep] : [])))
    return [...sweeps].flatMap((sweep) => sweep(parts) ?? [])
  }

  /** The event a finished job's end is told as, if its kind has events; undefined for a kind unknown here. */
  eventOf(job: Job): string | undefined {
    const events = this.#byName.get(job.kind)?.events
    if (!events) return undefined
    return job.status === 'succeeded' ? events.succeeded : events.failed
  }

  #names(test: (kind: AnyKind<H, A, F>) => boolean): string[] {
    return this.#kinds.filter(test).map((k) => k.name)
  }
}
