import helmet, { type FastifyHelmetOptions } from '@fastify/helmet'

/** Security headers on every answer; the API serves JSON and images, never pages, so its CSP forbids everything. */
export const helmetOptions: FastifyHelmetOptions = {
  contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
}

export default helmet
