import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/*
 * Faults of test/helpers/faulty-worker.ts that strike a worker thread outside any task, so no upload can choose
 * them: the test arms one, and the next worker thread to load the module takes it (exactly one: the file is
 * removed by whoever takes it). A worker thread shares its process id with the test that arms it.
 */
export type WorkerFault = 'fail-while-starting' | 'die-while-idle'

const faultFile = (fault: WorkerFault) => path.join(os.tmpdir(), `deckhand-worker-fault-${process.pid}-${fault}`)

/** Arms `fault` for the next worker thread that loads the faulty worker module. */
export function armWorkerFault(t: { teardown(fn: () => unknown): void }, fault: WorkerFault): void {
  fs.writeFileSync(faultFile(fault), '')
  t.teardown(() => fs.rmSync(faultFile(fault), { force: true }))
}

/** In a worker thread: whether `fault` was armed, disarming it. */
export function takeWorkerFault(fault: WorkerFault): boolean {
  try {
    fs.unlinkSync(faultFile(fault))
    return true
  } catch {
    return false
  }
}
