/** A one-line progress bar on stderr, drawn only when a person is watching a terminal. */
export function progress(label: string, total: number) {
  const tty = process.stderr.isTTY
  let last = 0
  const draw = (done: number) => {
    const width = 30
    const filled = Math.round((Math.min(done, total) / total) * width)
    process.stderr.write(`\r${label.padEnd(34)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`)
  }
  return {
    tick(done: number) {
      if (!tty || Date.now() - last < 100) return
      last = Date.now()
      draw(done)
    },
    done() {
      if (!tty) return
      draw(total)
      process.stderr.write('\n')
    },
  }
}
