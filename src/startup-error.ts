/**
 * Something the operator must put right before deckhand can start (its data directory held by another process, its
 * port taken): server.ts prints the message as one line and exits 1, with no stack trace, as for a ConfigError.
 */
export class StartupError extends Error {
  override name = 'StartupError'
}
