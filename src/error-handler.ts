import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify'
import { allowedMethods } from './allowed-methods.ts'
import { dependencyFailure, dependencyNames } from './dependencies.ts'
import {
  BadRequestError,
  DependencyUnavailableError,
  InternalError,
  InvalidJsonError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  RouteNotFoundError,
  StorageUnavailableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from './errors.ts'
import { storageFailure } from './storage/failures.ts'

const RETRY_AFTER_SECONDS = 30

type Declared = (message: string, request: FastifyRequest) => FastifyError

/** Fastify's and @fastify/multipart's client errors, as the declared errors of errors.ts: one vocabulary. */
const fromFastify: Record<string, Declared> = {
  // Routes that take other bodies (uploads) refuse a wrong type themselves, with their own words: this is JSON's.
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (_message, request) =>
    new UnsupportedMediaTypeError(
      `Expected a JSON body with "Content-Type: application/json" but received ${
        request.headers['content-type']
          ? `Content-Type ${request.headers['content-type'].slice(0, 100)}`
          : 'no Content-Type'
      }`,
    ),
  FST_INVALID_MULTIPART_CONTENT_TYPE: (message) => new UnsupportedMediaTypeError(message),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (message) => new BadRequestError(message),
  FST_ERR_CTP_EMPTY_JSON_BODY: (message) => new InvalidJsonError(message),
  FST_ERR_CTP_INVALID_JSON_BODY: (message) => new InvalidJsonError(message),
  FST_ERR_VALIDATION: (message) => new ValidationError(message),
}

/** Whether `err` names its own code (ours, or a library's that names one), not one of Fastify's FST_ ones. */
const hasOwnCode = (err: FastifyError) =>
  err.statusCode !== undefined && typeof err.code === 'string' && !err.code.startsWith('FST_')

/**
 * Any error, as one of the declared errors of errors.ts, which the answer is made from. A full disk and a
 * dependency out of reach are passing states of the service (503); a client's mistake keeps its 4xx and
 * Fastify's text under our code; anything else is a bug or an outside failure, and the client learns nothing
 * of it that could be misused.
 */
function declare(err: FastifyError, request: FastifyRequest): FastifyError {
  const storage = storageFailure(err)
  if (storage) return new StorageUnavailableError(storage)
  const down = dependencyFailure(err)
  if (down) return new DependencyUnavailableError(dependencyNames[down.dependency])
  // Validation failures are VALIDATION, but for those given a code of their own (the Idempotency-Key's).
  if (err.validation) return hasOwnCode(err) ? err : new ValidationError(err.message)
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500) {
    if (err instanceof SyntaxError) return new InvalidJsonError(err.message)
    const known = fromFastify[err.code]
    if (known) return known(err.message, request)
    // Body, file, part and field limits alike (Fastify's and @fastify/multipart's).
    if (status === 413) return new PayloadTooLargeError(err.message)
    if (hasOwnCode(err)) return err
    return new BadRequestError(err.message)
  }
  if (status === 503 && hasOwnCode(err)) return err
  return new InternalError()
}

/** Every error, 404s and malformed bodies included, leaves as `{statusCode, code, error, message}`. */
export function installErrorHandling(app: FastifyInstance): void {
  const methodsOn = allowedMethods(app)
  const notFound = (request: FastifyRequest) => {
    const path = request.url.split('?')[0] as string
    const allowed = methodsOn(path)
    if (allowed.length === 0) return new RouteNotFoundError(request.method, path)
    return Object.assign(new MethodNotAllowedError(request.method, path, allowed.join(', ')), { allow: allowed })
  }
  // Answered before Fastify would read (and wait for) a body nobody is going to use; preParsing rather than
  // onRequest, so that every onRequest hook (security headers) has run.
  app.addHook('preParsing', async (request) => {
    if (request.is404) throw notFound(request)
  })
  app.setNotFoundHandler((request) => {
    throw notFound(request)
  })

  app.setErrorHandler((original: FastifyError, request, reply) => {
    const err = declare(original, request)
    const statusCode = err.statusCode as number
    if (statusCode === 500) {
      request.log.error({ err: original }, 'request failed')
    } else if (statusCode === 503) {
      // A declared, temporary state (not ready, busy, a dependency away), not a bug; the driver's error is logged.
      request.log.warn({ code: err.code, err: original === err ? undefined : original }, err.message)
    } else if (original.cause) {
      // A refusal that wraps a library's error (libvips, busboy) keeps that text out of the answer and in the log.
      request.log.info({ err: original.cause, code: err.code }, 'request refused')
    }
    if (statusCode === 401) reply.header('www-authenticate', 'Bearer')
    if (statusCode === 405) reply.header('allow', (err as { allow?: string[] }).allow?.join(', ') ?? '')
    // Every 503 is a passing state (busy, disk full, a dependency away, not ready): say when to come back.
    if (statusCode === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    // A 429 of the rate limiter says when its window opens; one for uploads in flight, or for a user's share of the
    // pending jobs, frees up in seconds (an upload ends, one of the user's jobs finishes).
    if (statusCode === 429 && !reply.hasHeader('retry-after')) reply.header('retry-after', '1')
    // A body left unread (refused before or while streaming it) is not drained, which could be gigabytes: the
    // connection closes after the answer instead.
    if (!request.raw.complete) reply.header('connection', 'close')
    return reply
      .code(statusCode)
      .send({ statusCode, code: err.code, error: STATUS_CODES[statusCode] ?? 'Error', message: err.message })
  })
}
