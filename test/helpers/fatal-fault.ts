// Imported into a real server process (startServerProcess's `preload`): on SIGUSR2 it makes the fault that
// FATAL_FAULT names, from outside any request or job, as a bug in a timer or a callback would.
process.on('SIGUSR2', () => {
  if (process.env.FATAL_FAULT === 'unhandledRejection') {
    void Promise.reject(new Error('a rejection nobody handled'))
  } else {
    setImmediate(() => {
      throw new Error('an exception nobody caught')
    })
  }
})
