import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'

/** pino options: JSON lines for machines, pretty output only when a person watches a terminal. */
export function loggerOptions(config: Config): FastifyServerOptions['logger'] {
  return {
    level: config.LOG_LEVEL,
    ...(process.stdout.isTTY
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } }
      : {}),
  }
}
