import type { SSEReplyInterface } from '@fastify/sse'
import type { FastifyBaseLogger } from 'fastify'
import type { Services } from '../services.ts'
import { createReadings } from './readings.ts'
import { Sampler } from './sampler.ts'

/** What the page is told first: which of its numbers are this process's alone. */
export interface Scope {
  role: Services['role']
  queue: Services['config']['QUEUE']
  note: string
}

function scopeOf(services: Services): Scope {
  const { role } = services
  const queue = services.config.QUEUE
  let note: string
  if (queue === 'journal') note = 'Every number is this process’s: it answers the requests and runs the jobs.'
  else if (role === 'api') {
    note =
      'Jobs queued and running and queue latency are across all workers (Redis). This api runs no jobs, so ' +
      'jobs finished, mails sent and pool threads are not measured here; each worker serves its own on ' +
      'GET /metrics. Requests, event loop and RSS are this api’s.'
  } else {
    note =
      'Jobs queued and running and queue latency are across all workers (Redis). Requests, jobs finished, mails, ' +
      'pool, event loop and RSS are this process’s only; other workers serve theirs on GET /metrics.'
  }
  return { role, queue, note }
}

/** The dashboard's live side: one sampler for the process, fanned out to every open stream. */
export function createLiveDashboard(services: Services, log: FastifyBaseLogger) {
  const onError = (err: unknown) => log.warn({ err }, 'dashboard sample failed')
  const sampler = new Sampler(
    createReadings({ registry: services.metrics.registry, queue: services.queue, pool: services.pool, onError }),
    { intervalMs: 1000, keep: 600, onError },
  )
  const scope = scopeOf(services)
  const open = new Set<SSEReplyInterface>()

  return {
    sampler,
    /** Streams samples to one page until it goes away: first the scope and what was kept, then each new one. */
    async stream(sse: SSEReplyInterface): Promise<void> {
      sse.keepAlive()
      open.add(sse)
      await sse.send({ event: 'scope', data: scope })
      await sse.send({ event: 'history', data: sampler.samples })
      const unsubscribe = sampler.subscribe((sample) => {
        // A page that cannot keep up loses samples rather than holding them in memory here.
        if (sse.isConnected) sse.send({ event: 'sample', data: sample }).catch(() => {})
      })
      sse.onClose(() => {
        open.delete(sse)
        unsubscribe()
      })
    },
    /** On shutdown: streams never end by themselves, and close() would wait on them for ever. */
    close(): void {
      for (const sse of open) sse.close()
      open.clear()
      sampler.stop()
    },
  }
}

export type LiveDashboard = ReturnType<typeof createLiveDashboard>
