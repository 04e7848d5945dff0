/** Error codes that mean DATA_DIR cannot take writes now: the disk, not the request, is at fault. */
const storageCodes = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'SQLITE_FULL', 'SQLITE_READONLY'])

/** The storage failure code of `err` (full disk, read-only or failing file system), if it is one. */
export function storageFailure(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return undefined
  if (storageCodes.has(code) || code.startsWith('SQLITE_IOERR')) return code
  return undefined
}
