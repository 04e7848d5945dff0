import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

function ajv(coerceTypes: boolean | 'array'): Ajv {
  const instance = new Ajv({
    coerceTypes,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
    // Errors carry their schema, for messages that name what was expected (validation-messages.ts).
    verbose: true,
  })
  addFormats(instance)
  return instance
}

/**
 * Bodies are validated strictly (a number is not an e-mail, an unknown field is an error), while path and
 * query strings are text by nature and coerced to their declared types.
 */
export function validatorCompiler(shared: object[]): FastifySchemaCompiler<unknown> {
  const strict = ajv(false)
  const coercing = ajv('array')
  for (const schema of shared) {
    strict.addSchema(schema)
    coercing.addSchema(schema)
  }
  return ({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>
}
