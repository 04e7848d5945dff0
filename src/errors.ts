import createError from '@fastify/error'

/*
 * Every error deckhand answers with, declared once: a stable code clients can branch on, the HTTP status,
 * and a message template. Code throws these, never ad-hoc strings.
 */
export const ValidationError = createError<[string]>('VALIDATION', '%s', 400)
export const InvalidJsonError = createError<[string]>('INVALID_JSON', '%s', 400)
export const BadRequestError = createError<[string]>('BAD_REQUEST', '%s', 400)
export const UnauthorizedError = createError(
  'UNAUTHORIZED',
  'Expected "Authorization: Bearer <token>" with a valid token',
  401,
)
export const ForbiddenError = createError<[string]>('FORBIDDEN', '%s', 403)
export const SessionRequiredError = createError(
  'SESSION_REQUIRED',
  'Expected a dashboard session cookie: log in at /dashboard with the ADMIN_TOKEN',
  401,
)
export const LoginFailedError = createError('LOGIN_FAILED', 'Expected the ADMIN_TOKEN but received another token', 401)
export const DashboardOffError = createError(
  'DASHBOARD_OFF',
  'The dashboard is off: ADMIN_TOKEN is not set (set it, 16 characters or more, and restart)',
  403,
)
export const CrossOriginError = createError<[string, string]>(
  'CROSS_ORIGIN',
  'Expected a request from the dashboard itself (Origin with host %s) but received Origin %s',
  403,
)
export const RouteNotFoundError = createError<[string, string]>(
  'ROUTE_NOT_FOUND',
  'No route %s %s: GET / lists where to start, GET /docs the whole API',
  404,
)
/** A known path asked with a method it does not answer; the answer's Allow header lists those it does. */
export const MethodNotAllowedError = createError<[string, string, string]>(
  'METHOD_NOT_ALLOWED',
  '%s is not allowed on %s: use %s',
  405,
)
export const EmptyUploadError = createError('EMPTY_UPLOAD', 'Expected image bytes but received an empty body', 400)
export const MissingFileError = createError<[string]>('MISSING_FILE', '%s', 400)
export const InvalidMultipartError = createError<[string]>(
  'INVALID_MULTIPART',
  'Expected a well-formed multipart/form-data body but it broke off: %s',
  400,
)
export const UploadIncompleteError = createError(
  'UPLOAD_INCOMPLETE',
  'The upload ended before all the bytes its Content-Length announced had arrived',
  400,
)
export const UserNotFoundError = createError('USER_NOT_FOUND', 'No such user', 404)
export const JobNotFoundError = createError('JOB_NOT_FOUND', 'No such job', 404)
export const EmailTakenError = createError('EMAIL_TAKEN', 'That e-mail address is already signed up', 409)
/** A malformed Idempotency-Key header; the message says what the key may hold, never the key itself. */
export const IdempotencyKeyInvalidError = createError<[string]>('IDEMPOTENCY_KEY_INVALID', '%s', 400)
export const IdempotencyKeyInFlightError = createError(
  'IDEMPOTENCY_KEY_IN_FLIGHT',
  'A request with this Idempotency-Key is still being processed; retry once it has been answered',
  409,
)
export const IdempotencyKeyReusedError = createError(
  'IDEMPOTENCY_KEY_REUSED',
  'This Idempotency-Key was used for a different request; use a new key for a new request',
  422,
)
/** Any body over a limit: the upload limit (uploadTooLarge), or Fastify's and @fastify/multipart's, in their words. */
export const PayloadTooLargeError = createError<[string]>('PAYLOAD_TOO_LARGE', '%s', 413)
export const uploadTooLarge = (maxBytes: number) =>
  new PayloadTooLargeError(`Body exceeds the limit of ${maxBytes} bytes`)
export const UnsupportedMediaTypeError = createError<[string]>('UNSUPPORTED_MEDIA_TYPE', '%s', 415)
export const ImageTooLargeError = createError<[number, number, number]>(
  'IMAGE_TOO_LARGE',
  'Expected at most %d pixels but the image declares %d×%d',
  422,
)
export const ImageUndecodableError = createError<[string, { cause: Error }?]>(
  'IMAGE_UNDECODABLE',
  'The image cannot be read: %s',
  422,
)
export const AvatarNotFoundError = createError('AVATAR_NOT_FOUND', 'This user has no avatar yet', 404)
export const RateLimitedError = createError<[string]>('RATE_LIMITED', 'Too many requests; try again in %s', 429)
export const AuthFailuresError = createError<[number]>(
  'AUTH_FAILURES',
  'Too many wrong admin tokens from this address; try again in %d s',
  429,
)
export const UploadsInFlightError = createError<[string]>(
  'UPLOADS_IN_FLIGHT',
  'Too many uploads at once: %s. Try again when one has finished',
  429,
)
export const TooManyPendingJobsError = createError<[string]>(
  'TOO_MANY_PENDING_JOBS',
  "Too many of this user's images wait to be processed: %s. Try again when one has finished",
  429,
)
/** A shared limit of this process is reached (uploads paused, waiting streams full); the argument says which. */
export const ServiceBusyError = createError<[string]>('SERVICE_BUSY', '%s. Try again later', 503)
export const WebhookUrlRefusedError = createError<[string]>(
  'WEBHOOK_URL_REFUSED',
  'Expected an https URL of a public host but received %s',
  400,
)
export const WebhookNotFoundError = createError('WEBHOOK_NOT_FOUND', 'This user has no webhook', 404)
export const JobNotFailedError = createError<[string]>(
  'JOB_NOT_FAILED',
  'Only a failed job can be retried; this one is %s',
  409,
)
export const JobNotRetryableError = createError<[string]>(
  'JOB_NOT_RETRYABLE',
  'This failed job cannot succeed if run again: %s',
  409,
)
export const JobFinishedError = createError<[string]>(
  'JOB_FINISHED',
  'Only a queued or running job can be cancelled; this one has %s',
  409,
)
export const StorageUnavailableError = createError<[string]>(
  'STORAGE_UNAVAILABLE',
  'DATA_DIR cannot be written (%s); nothing was accepted. Try again later',
  503,
)
export const DependencyUnavailableError = createError<[string]>(
  'DEPENDENCY_UNAVAILABLE',
  '%s cannot be reached now. Try again later',
  503,
)
export const NotReadyError = createError<[string]>('NOT_READY', 'Not ready: %s', 503)
export const InternalError = createError('INTERNAL', 'Internal server error', 500)

/** Codes a job can end with (`GET /jobs/:id` → `error.code`). */
export const JobErrorCode = {
  /**
   * The SMTP server could not take the message now: a 4xx answer, a timeout, a refused connection. `message`
   * carries its answer; retried.
   */
  SMTP_ERROR: 'SMTP_ERROR',
  /**
   * The SMTP server refused the message for good: a 5xx answer, which RFC 5321 (4.2.1) makes permanent, so
   * sending it again gets the same answer. `message` carries the answer; not retried (an admin may retry it).
   */
  SMTP_REJECTED: 'SMTP_REJECTED',
  /** The image is truncated, corrupt or not an image deckhand reads; not retried. */
  IMAGE_UNDECODABLE: 'IMAGE_UNDECODABLE',
  /** The image has more pixels than MAX_INPUT_PIXELS; not retried. */
  IMAGE_TOO_LARGE: 'IMAGE_TOO_LARGE',
  /** The worker thread crashed or ran out of memory; retried. */
  WORKER_FAILED: 'WORKER_FAILED',
  /** The job ran past its time limit. */
  TIMEOUT: 'TIMEOUT',
  /** The webhook's host resolves to an address deckhand does not call (loopback, private, metadata…); not retried. */
  WEBHOOK_TARGET_REFUSED: 'WEBHOOK_TARGET_REFUSED',
  /** The receiver answered a 4xx other than 410 and 429; not retried. */
  WEBHOOK_REJECTED: 'WEBHOOK_REJECTED',
  /** The receiver answered 410 Gone: the webhook is removed; not retried. */
  WEBHOOK_GONE: 'WEBHOOK_GONE',
  /** A 429, a 5xx, a redirect (never followed), a timeout or no connection; retried, after Retry-After if sent. */
  WEBHOOK_ERROR: 'WEBHOOK_ERROR',
  /** Called off by its owner or an admin (DELETE /jobs/:id); not retried. */
  CANCELLED: 'CANCELLED',
  /** Called off because its owner uploaded a newer avatar, which replaces it; not retried. */
  SUPERSEDED: 'SUPERSEDED',
  /** Anything unforeseen; the log holds the stack. */
  INTERNAL: 'INTERNAL',
} as const
export type JobErrorCode = (typeof JobErrorCode)[keyof typeof JobErrorCode]

/**
 * What a job handler throws to end an attempt with a known code. `retryable: false` fails the job at once
 * instead of spending the remaining attempts. `message` is shown to the job's owner, so it is deckhand's own
 * words; `detail` (a library's text, which may name server paths, hosts or other people's addresses) goes only
 * to the log and the admin API.
 */
export class JobFailure extends Error {
  override name = 'JobFailure'
  constructor(
    readonly code: JobErrorCode | string,
    message: string,
    readonly retryable = true,
    readonly detail?: string,
    /** The far end said when to try again (Retry-After): the next attempt waits this long instead of the backoff. */
    readonly retryAfterMs?: number,
  ) {
    super(message)
  }
}
