import { randomHex } from '../random-pool.ts'

/**
 * A new row id: a UUIDv7 (RFC 9562), the time in milliseconds first, then 74 random bits. Rows made together sort
 * together, so a B-tree insert lands on the index's last pages instead of a random one: a grouped commit writes
 * fewer pages to the WAL, and the pages it needs stay in SQLite's cache and PostgreSQL's buffers however large the
 * table grows. An id tells when its row was made, to the millisecond: a job says so anyway, and a user's id tells
 * when they signed up to whoever sees it (their avatar URLs); the README says so.
 */
export function rowId(now = Date.now()): string {
  const time = now.toString(16).padStart(12, '0')
  const random = randomHex(10)
  const variant = (8 | (Number.parseInt(random[0] as string, 16) & 3)).toString(16)
  return `${time.slice(0, 8)}-${time.slice(8)}-7${random.slice(1, 4)}-${variant}${random.slice(4, 7)}-${random.slice(7, 19)}`
}
