import http from 'node:http'

// Imported into a real server process (startServerProcess's `preload`): with KILL_BEFORE_ANSWER=1 the process
// dies by SIGKILL at the moment it would start its answer to any request with an Idempotency-Key. A handler
// answers only once its transaction has committed (and is on disk), so this is exactly the window between the
// commit and the answer, every time.
if (process.env.KILL_BEFORE_ANSWER === '1') {
  const writeHead = http.ServerResponse.prototype.writeHead
  http.ServerResponse.prototype.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
    if (this.req.headers['idempotency-key']) process.kill(process.pid, 'SIGKILL')
    return (writeHead as (...a: unknown[]) => http.ServerResponse).apply(this, args)
  } as typeof writeHead
}
