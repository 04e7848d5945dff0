import net from 'node:net'
import { freePort } from './ports.ts'

/**
 * A TCP proxy in front of a real server (Redis, PostgreSQL) that a test can take down: an outage of one
 * process's connections only, while other tests go on using the shared server.
 * - `down()`: nothing listens on the port any more and every connection is cut (the server stopped);
 * - `hang()`: connections are accepted, and open ones kept, but no byte goes either way (a hung server,
 *   a black-holed network path);
 * - `up()`: forwarding again, on the same port; connections held by `hang()` are cut, as a restarted
 *   server would cut them.
 */
export interface TcpProxy {
  port: number
  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string
  down(): Promise<void>
  hang(): void
  up(): Promise<void>
  close(): Promise<void>
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let mode: 'forward' | 'hang' = 'forward'
  const sockets = new Set<net.Socket>()
  const track = (socket: net.Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    // A cut connection is what these tests cause on purpose.
    socket.on('error', () => {})
  }
  const cutAll = () => {
    for (const socket of sockets) socket.destroy()
  }
  const frozen = new Set<net.Socket>()
  const freeze = (socket: net.Socket) => {
    socket.unpipe()
    socket.pause()
    frozen.add(socket)
  }

  const server = net.createServer((client) => {
    track(client)
    if (mode === 'hang') {
      freeze(client)
      return
    }
    const upstream = net.connect(targetPort, targetHost)
    track(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  // Not port 0: down() leaves the port free for a while, and one from the ephemeral range may be taken meanwhile
  // by any outgoing connection (the app's own reconnects among them), and up() could not listen there again.
  const port = await freePort()
  await listen(port)

  return {
    port,
    through(url) {
      const u = new URL(url)
      u.hostname = '127.0.0.1'
      u.port = String(port)
      return u.href
    },
    async down() {
      mode = 'forward'
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      cutAll()
      frozen.clear()
      await closed
    },
    hang() {
      mode = 'hang'
      for (const socket of sockets) freeze(socket)
    },
    async up() {
      for (const socket of frozen) socket.destroy()
      frozen.clear()
      mode = 'forward'
      if (!server.listening) await listen(port)
    },
    async close() {
      cutAll()
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
