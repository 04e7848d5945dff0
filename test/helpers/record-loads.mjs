// Imported into a real server process and its threads (startServerProcess's `preload`; plain JavaScript, as the
// threads have no TypeScript loader): appends the URL of every module resolved, one a line, to RECORD_LOADS_FILE.
// A resolve hook on Node's loader thread sees every import, static or dynamic, of the process's ES modules.
import { register } from 'node:module'

const hooks = `
import fs from 'node:fs'
let file
export function initialize(data) { file = data.file }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context)
  fs.appendFileSync(file, resolved.url + '\\n')
  return resolved
}`

register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { file: process.env.RECORD_LOADS_FILE } })
