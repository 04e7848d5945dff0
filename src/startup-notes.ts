import { type Config, ConfigSchema } from './config.ts'
import type { Role } from './parts.ts'

export interface StartupNote {
  level: 'info' | 'warn'
  msg: string
}

/** Settings whose description says they are not for production: they are named at every start while on. */
const NOT_FOR_PRODUCTION = Object.entries(ConfigSchema.properties as Record<string, { description?: string }>)
  .map(([name, schema]) => ({ name: name as keyof Config, why: schema.description?.split(':')[0] ?? '' }))
  .filter(({ why }) => why === 'Development and tests only')

/**
 * What a newcomer needs to read in the first lines of the log: where the service's pages are (or why one is off),
 * and every switch that is on although it is not meant for production.
 */
export function startupNotes(config: Config, role: Role, address: string): StartupNote[] {
  const notes: StartupNote[] = []
  if (role !== 'worker') {
    notes.push({ level: 'info', msg: `API and its documentation: ${address}/docs` })
    notes.push(
      config.ADMIN_TOKEN
        ? { level: 'info', msg: `dashboard: ${address}/dashboard (log in with ADMIN_TOKEN)` }
        : { level: 'info', msg: `dashboard off: set ADMIN_TOKEN (16 characters or more) to open ${address}/dashboard` },
    )
  }
  const metricsAuth = config.METRICS_TOKEN ? ' (with METRICS_TOKEN as a bearer token)' : ''
  notes.push({ level: 'info', msg: `metrics: ${address}/metrics${metricsAuth}; health: ${address}/readyz` })
  for (const { name, why } of NOT_FOR_PRODUCTION) {
    if (config[name]) notes.push({ level: 'warn', msg: `${name} is on: ${why.toLowerCase()}, never in production` })
  }
  return notes
}
