import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  from: string
  to: string[]
  subject: string
  messageId: string
  raw: string
}

/** What the server answers to one message: accept, or refuse with an SMTP status. */
export type Verdict = { accept: true } | { accept: false; code: number; message: string }

export interface SmtpOptions {
  /** Decides each message's fate; `n` counts DATA commands received so far, from 1. */
  verdict?: (n: number) => Verdict
  /** Holds each message this long before answering, like a slow relay. */
  delayMs?: number
  /** Fixed port, to come back on the same address after `close()`. */
  port?: number
}

export interface TestSmtp {
  url: string
  port: number
  received: ReceivedMail[]
  /** Count of DATA commands, accepted or not. */
  attempts(): number
  /** The most connections that were open at once. */
  peakConnections(): number
  close(): Promise<void>
}

function header(raw: string, name: string): string {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? ''
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ')
  const line = unfolded.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
  return line ? line.slice(name.length + 1).trim() : ''
}

/** A real SMTP server (the smtp-server package) on an ephemeral loopback port. */
export async function startSmtp(options: SmtpOptions = {}): Promise<TestSmtp> {
  const received: ReceivedMail[] = []
  let count = 0
  const pending = new Set<NodeJS.Timeout>()
  let open = 0
  let peak = 0
  const server = new SMTPServer({
    onConnect(_session, callback) {
      peak = Math.max(peak, ++open)
      callback()
    },
    onClose() {
      open--
    },
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    // Pending (stalled) connections are cut soon after close(), as a crashed relay would cut them.
    closeTimeout: 200,
    onData(stream, session, callback) {
      const n = ++count
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const answer = () => {
          const verdict = options.verdict?.(n) ?? { accept: true }
          if (!verdict.accept) {
            const err = Object.assign(new Error(verdict.message), { responseCode: verdict.code })
            return callback(err)
          }
          const raw = Buffer.concat(chunks).toString('utf8')
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: header(raw, 'Subject'),
            messageId: header(raw, 'Message-ID'),
            raw,
          })
          callback()
        }
        if (!options.delayMs) return answer()
        const timer = setTimeout(() => {
          pending.delete(timer)
          answer()
        }, options.delayMs)
        pending.add(timer)
      })
    },
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  // A client that dies mid-session (the point of the crash tests) resets its socket; that is not a test failure.
  server.on('error', () => {})
  const port = (server.server.address() as AddressInfo).port
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    received,
    attempts: () => count,
    peakConnections: () => peak,
    close: () => {
      for (const timer of pending) clearTimeout(timer)
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
