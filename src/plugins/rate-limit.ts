import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import { RateLimitedError } from '../errors.ts'

/** Limits are declared per route (signups per address, uploads per user); nothing is limited by default. */
export const rateLimitOptions: RateLimitPluginOptions = {
  global: false,
  errorResponseBuilder: (_request, context) => new RateLimitedError(context.after),
}

export default rateLimit
