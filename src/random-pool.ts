import { randomFillSync } from 'node:crypto'

/*
 * Random bytes drawn from a pool that is refilled 4 KiB at a time, as Node's own randomUUID() does. Each call of
 * randomBytes() (and of uuid's v7(), through getRandomValues) pays OpenSSL 3's cost per call, which showed in a
 * signup flood's CPU profile; a slice of the pool costs a fraction of that (the figures: src/bench/RESULTS.md,
 * what was tried). Every byte is handed out once, and only as text: the pool itself never leaves this module.
 */
const POOL_BYTES = 4096
const pool = Buffer.alloc(POOL_BYTES)
let offset = POOL_BYTES

function draw(size: number, encoding: 'base64url' | 'hex'): string {
  if (size > POOL_BYTES) throw new RangeError(`at most ${POOL_BYTES} random bytes at a time`)
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool)
    offset = 0
  }
  const text = pool.toString(encoding, offset, offset + size)
  offset += size
  return text
}

/** `size` fresh random bytes (at most the pool's 4 KiB) as base64url text. */
export const randomBase64url = (size: number): string => draw(size, 'base64url')

/** `size` fresh random bytes (at most the pool's 4 KiB) as lowercase hex. */
export const randomHex = (size: number): string => draw(size, 'hex')
