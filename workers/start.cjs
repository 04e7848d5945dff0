// Where a thread of workers/*.ts starts (src/worker-thread.ts): tsx's require hook, registered here, loads the .ts
// module named last on the thread's argv, as Piscina's require does for workers/avatar.ts. The thread does not
// inherit the parent's `--import tsx`: on Node 20 its ESM loader reaches no worker thread, and loading it there
// anyway made a thread several times slower to start.
require('tsx/cjs/api').register()
require(process.argv[process.argv.length - 1])
