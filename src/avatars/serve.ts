import fs from 'node:fs'
import path from 'node:path'
import type { Readable } from 'node:stream'
import type { WatchErrors } from '../error-events.ts'
import { AvatarNotFoundError } from '../errors.ts'
import { type StoragePaths, variantFileName } from '../storage/paths.ts'
import type { OutputFormat } from './formats.ts'
import type { AvatarsRepository } from './repository.ts'
import { negotiateFormat } from './view.ts'

const YEAR = 365 * 24 * 3600

export interface AvatarRequest {
  size: number
  /** An explicit format; unset, the client's Accept header chooses. */
  format: OutputFormat | undefined
  accept: string | undefined
  /** The version in a versioned URL (`?v=`): such an answer never changes, so it may be cached for a year. */
  version: string | undefined
  ifNoneMatch: string | undefined
}

export interface ServedAvatar {
  headers: Record<string, string | number>
  /** The variant's bytes; undefined for a 304 (the client's copy is current). */
  body: Readable | undefined
}

export interface ServeDeps {
  avatars: AvatarsRepository
  paths: StoragePaths
  watchErrors: WatchErrors
}

/**
 * One variant of a user's current avatar, as an HTTP answer: content negotiation, a strong ETag per version,
 * size and format, and caching that lets a versioned URL live for a year while the bare one is revalidated.
 * Throws AvatarNotFoundError when the user has none, or none of that size and format.
 */
export async function serveAvatar(deps: ServeDeps, userId: string, request: AvatarRequest): Promise<ServedAvatar> {
  // The row is read again if its files vanish between lookup and open: a new version was just published.
  for (let attempt = 0; attempt < 2; attempt++) {
    const avatar = await deps.avatars.current(userId)
    if (!avatar) throw new AvatarNotFoundError()
    const formats = [...new Set(avatar.variants.map((v) => v.format))]
    const format = negotiateFormat(request.accept, formats, request.format)
    const variant = avatar.variants.find((v) => v.size === request.size && v.format === format)
    if (!variant) throw new AvatarNotFoundError()
    const etag = `"${avatar.version}-${request.size}.${format}"`
    const headers: ServedAvatar['headers'] = {
      etag,
      vary: 'Accept',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
      'cache-control': request.version === avatar.version ? `public, max-age=${YEAR}, immutable` : 'public, no-cache',
    }
    if (request.ifNoneMatch === etag) return { headers, body: undefined }
    const file = path.join(deps.paths.avatarVersion(userId, avatar.version), variantFileName(request.size, format))
    let handle: fs.promises.FileHandle
    try {
      handle = await fs.promises.open(file, 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && attempt === 0) continue
      throw err
    }
    const body = handle.createReadStream()
    // Fastify ends the answer on a read error; counted too, as a failing disk shows here first.
    deps.watchErrors(body, 'stream', { file })
    return { headers: { ...headers, 'content-type': `image/${format}`, 'content-length': variant.bytes }, body }
  }
  throw new AvatarNotFoundError()
}
