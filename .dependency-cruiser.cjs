/*
 * The folder rule of the README's Layout, checked at every `npm run lint` (madge checks file-level cycles beside it):
 * arrows point down. Features use the machinery; the machinery knows no feature; nothing but the process entry
 * imports the composition root that assembles them all.
 */

/** Features: each owns its routes' logic, its job kinds and its tables' use. */
const FEATURE = '^src/(avatars|users|auth|mail|webhooks|dashboard)/'

/** Where the features are assembled into a process: parts.ts opens each area's parts from job-kinds.ts' list, app.ts and server.ts start it. */
const COMPOSITION_ROOT = '^src/(parts|job-kinds|app|server|startup-notes)\\.ts$'

/**
 * Machinery: the job runners and stores, the database, image work, storage, fastify's plugins, and every module at
 * the root of src/ that is not the composition root (config, errors, metrics, logging...). startup-notes.ts is
 * counted with the composition root: it is server.ts's first lines of log, read by nothing else.
 */
const MACHINERY = [
  '^src/(db|jobs|images|storage|plugins|idempotency)/',
  '^src/(?!(parts|job-kinds|app|server|startup-notes)\\.ts$)[^/]+\\.ts$',
]

/**
 * workers/ holds the entry of each worker thread, as server.ts is the main thread's: it may use a feature's pure
 * functions and the message types of the module that starts it, and nothing in src/ imports it back.
 */
const THREAD_ENTRY = '^workers/'

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycle',
      comment: 'Two folders of src/ that import each other are one folder in two places: one of the arrows runs up.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'machinery-knows-no-feature',
      comment: 'The machinery serves every feature, so it may name none: a feature hands it what it needs instead.',
      severity: 'error',
      from: { path: MACHINERY },
      to: { path: FEATURE },
    },
    {
      name: 'composition-root-is-on-top',
      comment: 'parts.ts imports every feature; a feature or machinery importing it closes a loop through the root.',
      severity: 'error',
      // Routes too: each declares the few parts it is made from (its RouteDeps), handed to it by app.ts.
      from: { path: [FEATURE, ...MACHINERY, THREAD_ENTRY, '^src/routes/'] },
      to: { path: COMPOSITION_ROOT },
    },
    {
      name: 'thread-entries-are-on-top',
      comment: 'A worker thread starts from its file in workers/; src/ names that file by URL, never by an import.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: THREAD_ENTRY },
    },
  ],
  options: {
    // Type-only imports are arrows too: a type names the folder it comes from just as a value does.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
}
