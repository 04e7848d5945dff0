import fs from 'node:fs'
import net from 'node:net'
import type { FastifyInstance } from 'fastify'
import { startApp } from './app.ts'

/** Sends raw bytes over TCP and resolves with whatever the server answered before it closed the socket. */
export function rawExchange(port: number, write: (socket: net.Socket) => void, timeoutMs = 15_000) {
  return new Promise<{ text: string; ms: number }>((resolve, reject) => {
    const started = Date.now()
    const socket = net.connect(port, '127.0.0.1', () => write(socket))
    let text = ''
    socket.on('data', (c) => {
      text += c
    })
    socket.on('error', () => {}) // a reset after the answer is fine
    socket.on('close', () => resolve({ text, ms: Date.now() - started }))
    setTimeout(() => {
      socket.destroy()
      reject(new Error(`socket still open after ${timeoutMs} ms`))
    }, timeoutMs).unref()
  })
}

/** The real app listening on a loopback port of its own. */
export async function listening(
  t: Parameters<typeof startApp>[0],
  env: Record<string, string> = {},
): Promise<{ app: FastifyInstance; port: number }> {
  const app = await startApp(t, env)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, port: (app.server.address() as net.AddressInfo).port }
}

/**
 * Descriptors this process holds open (from /proc/self/fd): how many are sockets, and how many point under
 * `dir`. Not the grand total: module loading and the database open files of their own at any time.
 */
export function openDescriptors(dir?: string): { sockets: number; under: number } {
  let sockets = 0
  let under = 0
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`)
      if (target.startsWith('socket:')) sockets++
      else if (dir && target.startsWith(dir)) under++
    } catch {} // closed while we looked
  }
  return { sockets, under }
}
