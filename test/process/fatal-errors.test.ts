import t from 'tap'
import { fastEnv, tempDataDir } from '../helpers/app.ts'
import { startServerProcess } from '../helpers/server-process.ts'
import { waitFor } from '../helpers/wait.ts'

const fault = new URL('../helpers/fatal-fault.ts', import.meta.url).href

for (const event of ['uncaughtException', 'unhandledRejection']) {
  t.test(`an ${event} is logged as fatal, with the error, and the process exits 1`, async (t) => {
    const server = await startServerProcess(
      { ...fastEnv, LOG_LEVEL: 'info', DATA_DIR: tempDataDir(t), FATAL_FAULT: event },
      undefined,
      [fault],
    )
    t.teardown(() => server.child.kill('SIGKILL'))
    const signup = await fetch(`${server.url}/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ann@example.com' }),
    })
    t.equal(signup.status, 201, 'serving before the fault')

    server.child.kill('SIGUSR2')
    t.equal(await server.exited, 1, 'exit code 1, for the supervisor to restart it')
    // Its stdout may still be in the pipe when the exit is reported.
    const fatal = await waitFor('the fatal line', () => server.logs.find((line) => line.level === 60), 2000)
    t.equal(fatal?.event, event)
    t.match(fatal?.err, {
      message: event === 'uncaughtException' ? 'an exception nobody caught' : 'a rejection nobody handled',
      stack: /fatal-fault\.ts/,
    })
  })
}
