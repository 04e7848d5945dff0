import { type Readable, Stream } from 'node:stream'
import type { MultipartFile } from '@fastify/multipart'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { authenticate } from '../auth/tokens.ts'
import { type AcceptDeps, type AcceptedUpload, acceptAvatarUpload, type Upload } from '../avatars/accept.ts'
import { uploadPauseReason, userShareFullReason } from '../avatars/backpressure.ts'
import type { OutputFormat } from '../avatars/formats.ts'
import { type ServeDeps, serveAvatar } from '../avatars/serve.ts'
import type { UploadSlots } from '../avatars/upload-slots.ts'
import type { Config } from '../config.ts'
import {
  ForbiddenError,
  InvalidMultipartError,
  MissingFileError,
  ServiceBusyError,
  TooManyPendingJobsError,
  UnsupportedMediaTypeError,
  UploadIncompleteError,
  uploadTooLarge,
} from '../errors.ts'
import { idempotencyKey } from '../idempotency/key.ts'
import multipart, { multipartOptions } from '../plugins/multipart.ts'
import { getAvatarRouteSchema, uploadAvatarRouteSchema } from '../schemas/avatars.ts'
import { SourceFailed } from '../storage/receive.ts'
import type { UsersRepository } from '../users/repository.ts'

const UPLOAD_TYPE = /^\s*(image\/[\w.+-]+|multipart\/form-data)\s*(;|$)/i

/** What the avatar routes are made from: what accepting and serving an upload need, and who may upload. */
export interface AvatarsRouteDeps
  extends Omit<AcceptDeps, 'maxUploadBytes' | 'maxInputPixels' | 'supersede' | 'onSupersedeFailed'>,
    Omit<ServeDeps, 'redirectSeconds'> {
  config: Config
  users: UsersRepository
  uploads: UploadSlots
}

export const avatarsRoutes: FastifyPluginAsyncTypebox<{ deps: AvatarsRouteDeps }> = async (app, { deps }) => {
  const { config } = deps
  const acceptDeps = {
    ...deps,
    maxUploadBytes: config.MAX_UPLOAD_BYTES,
    maxInputPixels: config.MAX_INPUT_PIXELS,
    supersede: config.SUPERSEDE_AVATAR_UPLOADS,
    onSupersedeFailed: (err: unknown, jobId: string) =>
      app.log.warn({ err, jobId }, 'an older avatar job was not cancelled; the newer upload wins regardless'),
  }
  const serveDeps = { ...deps, redirectSeconds: config.AVATAR_REDIRECT ? config.AVATAR_REDIRECT_EXPIRES_S : 0 }
  await app.register(multipart, multipartOptions(config.MAX_UPLOAD_BYTES))
  // Raw image bodies reach the handler as the request stream, unread: the handler streams them to disk.
  app.addContentTypeParser(/^image\/[\w.+-]+$/i, (_request, payload, done) => done(null, payload))

  // Authentication comes first, so that the per-user rate limit counts only the user's own requests; and it
  // comes before a byte of the body is read, so that a stranger cannot hold a connection by trickling one.
  const authorize = async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const user = await authenticate(deps.users, request.headers.authorization)
    if (user.id !== request.params.id) throw new ForbiddenError("Only the user may change the user's avatar")
  }
  // A body of the wrong type or a declared size over the limit is refused before it is read, too.
  const checkHeaders = async (request: FastifyRequest) => {
    if (!UPLOAD_TYPE.test(request.headers['content-type'] ?? '')) {
      throw new UnsupportedMediaTypeError('Expected Content-Type image/* or multipart/form-data')
    }
    const declared = Number(request.headers['content-length'])
    if (declared > config.MAX_UPLOAD_BYTES) throw uploadTooLarge(config.MAX_UPLOAD_BYTES)
  }
  const slots = deps.uploads
  // Uploads on the wire count against the backpressure limit like the jobs they will become: a slot is taken
  // before the body is read, and given back however the request ends (answered, refused or cut off).
  const admit = async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    const release = slots.take(request.params.id, request.ip)
    reply.raw.once('close', release)
    const paused = await uploadPauseReason({
      queue: deps.queue,
      arriving: slots.inFlight - 1,
      storageDir: config.storageDir,
      maxPendingJobs: config.MAX_PENDING_JOBS,
      minFreeDiskBytes: config.MIN_FREE_DISK_BYTES,
    })
    if (paused) throw new ServiceBusyError(`Uploads are paused: ${paused}`)
    const full = await userShareFullReason({
      queue: deps.queue,
      userId: request.params.id,
      arriving: slots.inFlightOf(request.params.id) - 1,
      perUser: config.MAX_PENDING_JOBS_PER_USER,
    })
    // 429 with the error handler's Retry-After for 429s: one of the user's own jobs finishing frees a place.
    if (full) throw new TooManyPendingJobsError(full)
  }
  const perUser =
    config.UPLOAD_RATE_MAX > 0
      ? [
          app.rateLimit({
            max: config.UPLOAD_RATE_MAX,
            timeWindow: config.UPLOAD_RATE_WINDOW_MS,
            keyGenerator: (request) => `upload:${(request.params as { id: string }).id}`,
          }),
        ]
      : []

  app.put(
    '/users/:id/avatar',
    { schema: uploadAvatarRouteSchema, onRequest: [authorize, checkHeaders, ...perUser, admit] },
    async (request, reply) => {
      const key = idempotencyKey(request.headers['idempotency-key'])
      const upload = await uploadStream(request)
      let accepted: AcceptedUpload
      try {
        accepted = await acceptAvatarUpload(acceptDeps, request.params.id, upload, key)
      } catch (err) {
        // The body itself broke: busboy found the form cut off, or the client went away mid-upload.
        if (err instanceof SourceFailed) {
          throw upload.multipart ? new InvalidMultipartError(err.message) : new UploadIncompleteError()
        }
        throw err
      }
      if (accepted.replayed) reply.header('idempotent-replayed', 'true')
      return reply
        .code(202)
        .header('location', `/jobs/${accepted.jobId}`)
        .send({ jobId: accepted.jobId, status: 'queued' as const })
    },
  )

  /**
   * The image bytes of an upload: the raw body, or the part in field `file` of a multipart form; and how they
   * came (`form`), which a retry with the same Idempotency-Key must repeat.
   */
  async function uploadStream(request: FastifyRequest): Promise<Upload & { multipart: boolean }> {
    if (!request.isMultipart()) {
      if (request.body instanceof Stream) {
        const form = JSON.stringify(['raw', request.headers['content-type']?.toLowerCase()])
        return { body: request.body as Readable, form, multipart: false }
      }
      throw new UnsupportedMediaTypeError('Expected Content-Type image/* or multipart/form-data')
    }
    let part: MultipartFile | undefined
    try {
      part = await request.file()
    } catch (err) {
      // Multipart limits are the client's too, and already say so (413); anything else is a form busboy
      // could not read (no boundary, the wrong one): the client's fault, never a 500.
      if ((err as FastifyError).statusCode) throw err
      throw new InvalidMultipartError((err as Error).message)
    }
    if (!part) throw new MissingFileError('Expected a multipart field "file" with the image; none came')
    if (part.fieldname !== 'file') {
      part.file.resume() // drain it, or the request never ends
      throw new MissingFileError(`Expected the image in field "file" but received field "${part.fieldname}"`)
    }
    // The text fields sent before the file, with the file's own name and type (the boundary is random: left out).
    const fields = Object.values(part.fields)
      .flat()
      .flatMap((f) => (f && f.type === 'field' ? [[f.fieldname, String(f.value)]] : []))
    const form = JSON.stringify(['multipart', part.filename, part.mimetype, fields])
    return { body: part.file, form, multipart: true }
  }

  app.get(
    '/users/:id/avatar',
    { schema: getAvatarRouteSchema(config.avatarSizes, config.avatarFormats) },
    async (request, reply) => {
      const query = request.query as { size?: number; format?: OutputFormat; v?: string }
      const { headers, body, redirect } = await serveAvatar(serveDeps, request.params.id, {
        size: query.size ?? (config.avatarSizes.at(-1) as number),
        format: query.format,
        accept: request.headers.accept,
        version: query.v,
        ifNoneMatch: request.headers['if-none-match'],
      })
      reply.headers(headers)
      if (redirect) return reply.redirect(redirect, 302)
      return body ? reply.send(body) : reply.code(304).send(null)
    },
  )
}
