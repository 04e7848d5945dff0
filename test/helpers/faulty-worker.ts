// A stand-in for workers/avatar.ts that misbehaves on purpose, chosen by the upload's type, to prove that a
// worker's failure stays with its own job. JPEGs go through the real pipeline.
import fs from 'node:fs'
import { type AvatarTask, renderAvatar } from '../../src/images/avatar-pipeline.ts'

export default async function faultyAvatarTask(task: AvatarTask) {
  if (task.input.endsWith('.png')) {
    // Grows the V8 heap until the worker's resourceLimits stop it (ERR_WORKER_OUT_OF_MEMORY).
    const hoard: number[][] = []
    for (;;) hoard.push(new Array(1e6).fill(Math.random()))
  }
  // Never answers: only the job's timeout (an AbortSignal that ends this thread) gets it unstuck.
  if (task.input.endsWith('.webp')) await new Promise(() => {})
  if (task.input.endsWith('.tiff')) throw new Error('the worker threw')
  if (task.input.endsWith('.gif')) {
    // Crashes the thread on the first attempt only; the retry succeeds.
    const marker = `${task.input}.crashed-once`
    if (!fs.existsSync(marker)) {
      fs.writeFileSync(marker, '')
      process.exit(1)
    }
    fs.rmSync(marker)
  }
  return renderAvatar(task)
}
