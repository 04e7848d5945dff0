import { fastifySSE, type SSEPluginOptions } from '@fastify/sse'

/** Server-Sent Events framing; routes opt in with `sse`. The heartbeat is a comment line (`: heartbeat`). */
export const sseOptions = (heartbeatMs: number): SSEPluginOptions => ({ heartbeatInterval: heartbeatMs })

export default fastifySSE
