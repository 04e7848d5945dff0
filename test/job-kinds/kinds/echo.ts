import { Type } from 'typebox'
import { JobFailure } from '../../../src/errors.ts'
import { defineJobKind, defineLane } from '../../../src/jobs/kind.ts'
import type { Metrics } from '../../../src/metrics.ts'

/*
 * A job kind declared outside src/, as a new feature would declare one: a lane of its own and a kind in it, on the
 * event loop. Nothing in src/ names it; the test hands the list with it to the app.
 */

/** Jobs wait here until the test opens it, so that one can be seen pending. */
export class Gate {
  #open!: () => void
  #opened = new Promise<void>((resolve) => {
    this.#open = resolve
  })
  get opened(): Promise<void> {
    return this.#opened
  }
  open(): void {
    this.#open()
  }
}
export const echoGate = { current: new Gate() }

/** How often the kind's own sweep ran: a feature's files are swept with the rest, wherever its jobs run. */
export const echoSweeps = { runs: 0 }

export const echoLane = defineLane({ name: 'echoes', concurrency: () => 2 })

export const echoJob = defineJobKind({
  name: 'test.echo',
  payload: Type.Object({ text: Type.String({ maxLength: 100 }) }, { additionalProperties: false }),
  lane: echoLane,
  fair: true,
  countedPerOwner: true,
  events: { succeeded: 'echo.done', failed: 'echo.failed' },
  sweep: ({ runsJobs }: { runsJobs: boolean }) =>
    runsJobs ? { name: 'echo files', run: async () => void echoSweeps.runs++ } : undefined,
  // It names one part of the process, to show that a kind takes what it needs from the parts the list is made with.
  handler:
    ({ metrics }: { metrics: Pick<Metrics, 'registry'> }) =>
    async (job, ctx) => {
      ctx.setStage('waiting at the gate')
      await echoGate.current.opened
      if (job.payload.text === 'fail') throw new JobFailure('ECHO_REFUSED', 'asked to fail', false)
      return { echo: job.payload.text.toUpperCase(), metrics: metrics.registry.contentType.length > 0 }
    },
})
