import { type Logger, type LoggerOptions, pino } from 'pino'
import type { Config } from './config.ts'

/** The process's one logger: Fastify logs requests through it, and every service below takes it as pino's Logger. */
export const createLogger = (config: Config): Logger => pino(loggerOptions(config))

/** pino options: JSON lines for machines, pretty output only when a person watches a terminal. */
function loggerOptions(config: Config): LoggerOptions {
  return {
    level: config.LOG_LEVEL,
    ...(process.stdout.isTTY
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } }
      : {}),
  }
}
