// A stand-in for an image pool's worker module (ImagePoolOptions.substitute) that holds every task until the test
// opens the gate: a file named `images-gate-open` in DATA_DIR (the parent of the scratch folder each job works in).
// Until then the image lane is busy and the jobs behind it stay queued, so a test can fill the backlog and then let
// it drain.
import fs from 'node:fs'
import path from 'node:path'
import { renderAvatar as render } from '../../src/avatars/render.ts'

/** The gate file for an app on this DATA_DIR. */
export const imagesGate = (dataDir: string) => path.join(dataDir, 'images-gate-open')

/** `work`, once the gate of the DATA_DIR its input file is in is open. */
function gated<In extends { input: string }, Out>(work: (input: In) => Promise<Out>): (task: In) => Promise<Out> {
  return async (task) => {
    // task.input is DATA_DIR/scratch/<job's folder>/<original>.
    const gate = imagesGate(path.dirname(path.dirname(path.dirname(task.input))))
    while (!fs.existsSync(gate)) await new Promise((resolve) => setTimeout(resolve, 50))
    return work(task)
  }
}

/** Stands in for workers/avatar.ts's task of the same name. */
export const renderAvatar = gated(render)
