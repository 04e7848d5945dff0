import type { ErrorObject } from 'ajv'

/*
 * Ajv's messages describe the schema ("must match pattern \"^[^@]{1,64}@\"", "must be equal to constant" four times);
 * a client needs the field and what it may hold. These turn a failed validation into one sentence of that kind.
 * The code (VALIDATION) and the status (400) stay as they are: only the words change.
 */

/** What a string `format` holds, in words. */
const FORMATS: Record<string, string> = {
  email: 'an e-mail address',
  uuid: 'a UUID',
  uri: 'a URL',
  url: 'a URL',
  'date-time': 'a date and time (RFC 3339, e.g. 2026-01-31T12:00:00Z)',
  date: 'a date (YYYY-MM-DD)',
}

const TYPES: Record<string, string> = {
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'a JSON object',
  array: 'a JSON array',
  null: 'null',
}

/** Where a value was: the body's fields are named bare, the rest by their part of the request. */
const PARTS: Record<string, string> = {
  body: '',
  querystring: 'query parameter ',
  params: 'path parameter ',
  headers: 'header ',
}

/**
 * A schema may say in words what its pattern allows (`x-expected`), where the pattern itself would read as
 * noise to a client: `Type.String({ pattern: '…', 'x-expected': 'printable text' })`.
 */
export const EXPECTED = 'x-expected'

type AjvError = ErrorObject & { parentSchema?: Record<string, unknown> }

const list = (values: unknown[]) => values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')

function fieldName(error: AjvError, part: string): string {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
  if (error.keyword === 'required') path.push(String(error.params.missingProperty))
  if (path.length === 0) return part === 'body' ? 'the body' : `the ${(PARTS[part] ?? `${part} `).trim()}s`
  // A repeated query parameter is an array: `name[1]`, not `name.1`.
  const name = path.map((segment, i) => (i > 0 && /^\d+$/.test(segment) ? `[${segment}]` : `.${segment}`)).join('')
  return `${PARTS[part] ?? `${part} `}\`${name.slice(1)}\``
}

/** One failed keyword, as a sentence about the field. */
function describe(error: AjvError, field: string): string {
  const p = error.params as Record<string, unknown>
  const expected = error.parentSchema?.[EXPECTED]
  switch (error.keyword) {
    case 'required':
      return `${field} is required`
    case 'additionalProperties': {
      const known = Object.keys((error.parentSchema?.properties as object | undefined) ?? {})
      const where = error.instancePath ? ` in ${field}` : ''
      const allowed = known.length > 0 ? ` (expected ${list(known)})` : ''
      return `unknown field \`${String(p.additionalProperty)}\`${where}${allowed}`
    }
    case 'format':
      return `${field} must be ${FORMATS[String(p.format)] ?? `in the format ${String(p.format)}`}`
    case 'pattern':
      return typeof expected === 'string'
        ? `${field} must be ${expected}`
        : `${field} must match the pattern ${String(p.pattern)}`
    case 'type':
      return `${field} must be ${TYPES[String(p.type)] ?? String(p.type)}`
    case 'const':
      return `${field} must be ${list([p.allowedValue])}`
    case 'enum':
      return `${field} must be one of ${list(p.allowedValues as unknown[])}`
    case 'minLength':
      return `${field} must be at least ${p.limit} character${p.limit === 1 ? '' : 's'} long`
    case 'maxLength':
      return `${field} must be at most ${p.limit} characters long`
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${field} must be ${p.comparison} ${p.limit}`
    case 'minItems':
      return `${field} must hold at least ${p.limit} item${p.limit === 1 ? '' : 's'}`
    case 'maxItems':
      return `${field} must hold at most ${p.limit} items`
    default:
      return `${field} ${error.message ?? 'is not valid'}`
  }
}

/**
 * The validation errors of one request part as one message. A union of constants (`size` is 64 or 128 or …)
 * fails once per branch: those become one "must be one of". Requires Ajv's `verbose` (for parentSchema).
 */
export function validationMessage(errors: ErrorObject[], part: string): string {
  const consts = new Map<string, unknown[]>()
  const sentences: string[] = []
  for (const error of errors as AjvError[]) {
    const field = fieldName(error, part)
    if (error.keyword === 'const') {
      const values = consts.get(field) ?? []
      values.push((error.params as { allowedValue: unknown }).allowedValue)
      consts.set(field, values)
      continue
    }
    // The branches already said what was wrong; "must match a schema in anyOf" adds nothing.
    if (error.keyword === 'anyOf' && (consts.has(field) || errors.length > 1)) continue
    sentences.push(describe(error, field))
  }
  for (const [field, values] of consts) {
    sentences.unshift(
      values.length === 1 ? `${field} must be ${list(values)}` : `${field} must be one of ${list(values)}`,
    )
  }
  return [...new Set(sentences)].join('; ')
}
