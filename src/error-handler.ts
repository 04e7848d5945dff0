import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify'
import { dependencyFailure, dependencyNames } from './dependencies.ts'
import { DependencyUnavailableError, RouteNotFoundError, StorageUnavailableError } from './errors.ts'
import { storageFailure } from './storage/failures.ts'

const RETRY_AFTER_SECONDS = 30

/** Fastify's own client errors, renamed to deckhand's codes so clients see one vocabulary. */
const fastifyCodes: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_VALIDATION: 'VALIDATION',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
}

/** Every error, 404s and malformed bodies included, leaves as `{statusCode, code, error, message}`. */
export function installErrorHandling(app: FastifyInstance): void {
  const notFound = (request: FastifyRequest) =>
    new RouteNotFoundError(request.method, request.url.split('?')[0] as string)
  // Answered before Fastify would read (and wait for) a body nobody is going to use; preParsing rather than
  // onRequest, so that every onRequest hook (security headers) has run.
  app.addHook('preParsing', async (request) => {
    if (request.is404) throw notFound(request)
  })
  app.setNotFoundHandler((request) => {
    throw notFound(request)
  })

  app.setErrorHandler((original: FastifyError, request, reply) => {
    // A full or failing disk is a temporary state of the service, told as such: a 503.
    const storage = storageFailure(original)
    // So is Redis or PostgreSQL out of reach: the request was fine, the answer is "not now".
    const down = storage ? undefined : dependencyFailure(original)
    const err: FastifyError = storage
      ? new StorageUnavailableError(storage)
      : down
        ? new DependencyUnavailableError(dependencyNames[down.dependency])
        : original
    let statusCode = err.statusCode ?? 500
    let code: string
    let message = err.message
    if (err.validation) {
      statusCode = 400
      code = 'VALIDATION'
    } else if (err instanceof SyntaxError && statusCode === 400) {
      code = 'INVALID_JSON'
    } else if (statusCode >= 400 && statusCode < 500) {
      // A refusal that wraps a library's error (libvips, busboy) keeps that text out of the answer and in the log.
      if (err.cause) request.log.info({ err: err.cause, code: err.code }, 'request refused')
      code =
        fastifyCodes[err.code] ??
        // Body, file, part and field limits alike (Fastify's and @fastify/multipart's).
        (statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : undefined) ??
        (err.code?.startsWith('FST_') ? 'BAD_REQUEST' : err.code) ??
        'BAD_REQUEST'
    } else {
      statusCode = statusCode >= 500 && statusCode < 600 ? statusCode : 500
      // A bug or an outside failure: log everything, tell the client nothing it could misuse. A 503 is a
      // declared, temporary state (not ready, busy, a dependency away), not a bug; the driver's error is logged.
      if (statusCode === 503) request.log.warn({ code: err.code, ...down, err: down && original }, err.message)
      else request.log.error({ err }, 'request failed')
      code = statusCode === 503 && err.code ? err.code : 'INTERNAL'
      message = statusCode === 503 ? err.message : 'Internal server error'
    }
    if (statusCode === 401) reply.header('www-authenticate', 'Bearer')
    // Every 503 is a passing state (busy, disk full, a dependency away, not ready): say when to come back.
    if (statusCode === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    // A 429 of the rate limiter says when its window opens; one for uploads in flight frees up in seconds.
    if (statusCode === 429 && !reply.hasHeader('retry-after')) reply.header('retry-after', '1')
    // A body left unread (refused before or while streaming it) is not drained, which could be gigabytes: the
    // connection closes after the answer instead.
    if (!request.raw.complete) reply.header('connection', 'close')
    return reply.code(statusCode).send({ statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message })
  })
}
