import type { AddressInfo } from 'node:net'
import net from 'node:net'
import type { FastifyInstance } from 'fastify'

/** An app from startApp() listening on a loopback port; resolves with its base URL. */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

/** A loopback port nothing listens on now (to start something there later, or to find nobody home). */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
