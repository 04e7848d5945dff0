import fs from 'node:fs'
import type { AddressInfo } from 'node:net'
import net from 'node:net'
import type { FastifyInstance } from 'fastify'

/** An app from startApp() listening on a loopback port; resolves with its base URL. */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

/** The lowest port the kernel hands out by itself (Linux's ip_local_port_range; 32768 where that is not told). */
function ephemeralLow(): number {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 11_000 ? low : 32_768
  } catch {
    return 32_768
  }
}

const canListen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })

/**
 * A loopback port nothing listens on now, to start something there later (or to listen there again after a
 * pause), or to find nobody home. Taken below the kernel's ephemeral range: a port from that range (what port 0
 * gives) may meanwhile become the local end of any process's next outgoing connection, or another listener's
 * port 0, and then nothing can listen there, or something answers. Below it, only a process that asks for that
 * very port can take it.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow()
  for (let tries = 0; tries < 100; tries++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000))
    if (await canListen(port)) return port
  }
  throw new Error(`no free loopback port between 10000 and ${low}`)
}
