import multipart, { type FastifyMultipartOptions } from '@fastify/multipart'

/** One file, a handful of small fields: anything more is not an avatar upload. */
export function multipartOptions(maxUploadBytes: number): FastifyMultipartOptions {
  return {
    limits: { fileSize: maxUploadBytes, files: 1, fields: 8, parts: 10, fieldSize: 1024, headerPairs: 64 },
  }
}

export default multipart
