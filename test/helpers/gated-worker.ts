// A stand-in for workers/avatar.ts that holds every task until the test opens the gate: a file named
// `images-gate-open` in DATA_DIR (the parent of the scratch folder each job works in). Until then the image lane
// is busy and the jobs behind it stay queued, so a test can fill the backlog and then let it drain.
import fs from 'node:fs'
import path from 'node:path'
import { type AvatarTask, renderAvatar } from '../../src/images/avatar-pipeline.ts'

/** The gate file for an app on this DATA_DIR. */
export const imagesGate = (dataDir: string) => path.join(dataDir, 'images-gate-open')

export default async function gatedAvatarTask(task: AvatarTask) {
  // task.input is DATA_DIR/scratch/<job's folder>/<original>.
  const gate = imagesGate(path.dirname(path.dirname(path.dirname(task.input))))
  while (!fs.existsSync(gate)) await new Promise((resolve) => setTimeout(resolve, 50))
  return renderAvatar(task)
}
