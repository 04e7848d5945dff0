import type { Readable } from 'node:stream'
import type { WatchErrors } from '../error-events.ts'
import { AvatarNotFoundError } from '../errors.ts'
import type { ObjectStore } from '../storage/object-store.ts'
import { contentTypeOf, type OutputFormat } from './formats.ts'
import { variantKey } from './keys.ts'
import type { AvatarsRepository } from './repository.ts'
import { negotiateFormat } from './view.ts'

const YEAR = 365 * 24 * 3600

/**
 * A version's variant never changes (a new avatar is a new version, under new keys): wherever it is fetched by a
 * versioned address, from deckhand or from the bucket, it may be cached for a year.
 */
export const VERSIONED_CACHE_CONTROL = `public, max-age=${YEAR}, immutable`

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
  /** The variant's bytes; undefined for a 304 (the client's copy is current) or a redirect. */
  body: Readable | undefined
  /** A presigned URL of the store to send the client to (302), with AVATAR_REDIRECT. */
  redirect?: string
}

export interface ServeDeps {
  avatars: AvatarsRepository
  store: ObjectStore
  watchErrors: WatchErrors
  /** Seconds a presigned URL lives, when clients are sent to the store rather than streamed the bytes; else 0. */
  redirectSeconds: number
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
      'cache-control': request.version === avatar.version ? VERSIONED_CACHE_CONTROL : 'public, no-cache',
    }
    const key = variantKey(userId, avatar.version, request.size, format)
    if (deps.redirectSeconds > 0) {
      const url = await deps.store.signedUrl(key, deps.redirectSeconds)
      if (url)
        return {
          headers: redirectHeaders(headers, request, avatar.version, deps.redirectSeconds),
          body: undefined,
          redirect: url,
        }
    }
    if (request.ifNoneMatch === etag) return { headers, body: undefined }
    const body = await deps.store.get(key)
    if (!body) {
      if (attempt === 0) continue
      break
    }
    // Fastify ends the answer on a read error; counted too, as a failing disk or bucket shows here first.
    deps.watchErrors(body, 'stream', { key })
    return { headers: { ...headers, 'content-type': contentTypeOf(format), 'content-length': variant.bytes }, body }
  }
  throw new AvatarNotFoundError()
}

/**
 * Headers of a 302 to the store. The presigned URL expires, so the redirect may be cached for a part of its life
 * only: a versioned URL for half of it (the target never changes), the bare one not at all (it moves with each
 * new avatar). The ETag is the object's affair, answered by the store.
 */
function redirectHeaders(
  headers: ServedAvatar['headers'],
  request: AvatarRequest,
  version: string,
  seconds: number,
): ServedAvatar['headers'] {
  const { etag: _etag, ...rest } = headers
  const cache = request.version === version ? `public, max-age=${Math.floor(seconds / 2)}` : 'no-cache'
  return { ...rest, 'cache-control': cache }
}
