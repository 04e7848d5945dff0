import fs from 'node:fs'
import os from 'node:os'

const reniced = new Set<string>()

/**
 * Lowers the scheduling priority (raises the nice value) of the threads that do image work, so that on a busy
 * machine the event loop, which answers requests, wins the CPU. Linux keeps a nice value per thread: this
 * thread is reniced through PRIO_PROCESS with id 0, and libvips' own worker threads, which do the pixel work,
 * are found by name in /proc/self/task. Elsewhere this does nothing.
 */
export function lowerImageThreadPriority(nice: number): void {
  if (nice === 0 || process.platform !== 'linux') return
  try {
    os.setPriority(0, nice)
    for (const tid of fs.readdirSync('/proc/self/task')) {
      if (reniced.has(tid)) continue
      const name = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()
      if (name !== 'libvips worker') continue
      os.setPriority(Number(tid), nice)
      reniced.add(tid)
    }
  } catch {
    // A thread that ended between listing and renicing, or a sandbox that forbids it: priority is an
    // optimisation, never a reason to fail a job.
  }
}
