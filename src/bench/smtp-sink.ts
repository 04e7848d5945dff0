/**
 * A real SMTP server (smtp-server) on loopback that accepts every message and keeps none: where the bench's
 * mail goes when it measures delivery over SMTP. A process of its own, so that the load client's event loop
 * is not also the relay's. Prints its port on stdout once it listens.
 *   node --import tsx src/bench/smtp-sink.ts
 */
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'

const server = new SMTPServer({
  disabledCommands: ['STARTTLS', 'AUTH'],
  authOptional: true,
  logger: false,
  // deckhand's pool keeps its connections open and sends many messages over each.
  maxClients: 64,
  onData(stream, _session, callback) {
    stream.on('data', () => {})
    stream.on('end', () => callback())
  },
})
server.listen(0, '127.0.0.1', () => {
  console.log((server.server.address() as AddressInfo).port)
})
process.once('SIGTERM', () => server.close(() => process.exit(0)))
