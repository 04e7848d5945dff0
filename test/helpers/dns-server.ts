import dgram from 'node:dgram'
import { isIPv4 } from 'node:net'
import ipaddr from 'ipaddr.js'

export interface DnsQuestion {
  name: string
  type: 'A' | 'AAAA' | number
}

export interface DnsServer {
  /** `127.0.0.1:port`, as Resolver.setServers takes it. */
  address: string
  /** Every question asked, in order. */
  questions: DnsQuestion[]
  /** Addresses by name (A and AAAA alike, told apart by their form); a name without any is NXDOMAIN. */
  records: Map<string, string[]>
  /** False: questions are heard and never answered, as a DNS server that is down or overloaded does. */
  answering: boolean
}

/**
 * A DNS server on a loopback UDP port that speaks just enough DNS (RFC 1035) to answer A and AAAA questions
 * from `records`: what a webhook host's DNS says is then the test's to choose, slowness included.
 */
export async function startDnsServer(t: { teardown(fn: () => unknown): void }): Promise<DnsServer> {
  const socket = dgram.createSocket('udp4')
  const server: DnsServer = { address: '', questions: [], records: new Map(), answering: true }
  socket.on('message', (query, peer) => {
    const question = readQuestion(query)
    if (!question) return
    server.questions.push({ name: question.name, type: TYPES[question.type] ?? question.type })
    if (!server.answering) return
    socket.send(answer(query, question, server.records.get(question.name.toLowerCase())), peer.port, peer.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  server.address = `127.0.0.1:${socket.address().port}`
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())))
  return server
}

const TYPES: Record<number, 'A' | 'AAAA'> = { 1: 'A', 28: 'AAAA' }

/** The query's one question: its name, its type, and where it ends in the message. */
function readQuestion(query: Buffer): { name: string; type: number; end: number } | undefined {
  const labels: string[] = []
  let at = 12
  while (at < query.length && query[at] !== 0) {
    const length = query[at] ?? 0
    labels.push(query.toString('latin1', at + 1, at + 1 + length))
    at += 1 + length
  }
  if (at + 5 > query.length) return undefined
  return { name: labels.join('.'), type: query.readUInt16BE(at + 1), end: at + 5 }
}

function answer(query: Buffer, question: { type: number; end: number }, addresses: string[] | undefined): Buffer {
  const records = (addresses ?? []).filter((a) =>
    question.type === 1 ? isIPv4(a) : question.type === 28 && !isIPv4(a),
  )
  const header = Buffer.alloc(12)
  query.copy(header, 0, 0, 2)
  // A response (QR), recursion desired and available; NXDOMAIN for a name the server does not know.
  header.writeUInt16BE(addresses ? 0x8180 : 0x8183, 2)
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(records.length, 6)
  const rdata = records.map((address) => {
    const data = Buffer.from(ipaddr.parse(address).toByteArray())
    const record = Buffer.alloc(12)
    // The name: a pointer to the question's, at offset 12.
    record.writeUInt16BE(0xc00c, 0)
    record.writeUInt16BE(question.type, 2)
    record.writeUInt16BE(1, 4)
    record.writeUInt32BE(60, 6)
    record.writeUInt16BE(data.length, 10)
    return Buffer.concat([record, data])
  })
  return Buffer.concat([header, query.subarray(12, question.end), ...rdata])
}
