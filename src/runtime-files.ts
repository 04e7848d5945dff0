/**
 * Whether this process runs the compiled JavaScript under dist/ (`npm start`, `npm run bench`) rather than the .ts
 * sources through tsx (the tests, `node --import tsx src/server.ts`): this module is compiled exactly when the rest
 * is. Compiled, a service at rest is 130 MiB smaller: tsx's loader keeps a thread, every module's transformed source
 * and its source map (src/bench/RESULTS.md).
 */
export const compiled = import.meta.url.endsWith('.js')

const root = new URL(compiled ? '../../' : '../', import.meta.url)
const dist = new URL('dist/', root)

/**
 * A module under workers/, named by its source (`new URL('../../workers/avatar.ts', import.meta.url)`), as this
 * process runs it: the source itself, or its compiled .js under dist/.
 */
export function workerModule(source: URL): URL {
  return compiled ? new URL(source.href.replace(/\.ts$/, '.js')) : source
}

/**
 * A file under src/ that is not compiled (the dashboard's browser scripts and styles), named relative to a module
 * (`new URL('./assets/login.js', import.meta.url)`): under dist/ that name points beside the compiled module,
 * where the build puts nothing, so it is taken back to src/.
 */
export function sourceFile(relative: URL): URL {
  return compiled && relative.href.startsWith(dist.href)
    ? new URL(relative.href.slice(dist.href.length), root)
    : relative
}
