import type Sqlite from 'better-sqlite3'

/*
 * better-sqlite3's objects are never left for the garbage collector. On Node 24 the destructor of a native
 * object wrapper (node::ObjectWrap) unregisters an environment cleanup hook, and when V8 runs that destructor
 * from a collection outside any JavaScript context the process aborts: SIGABRT, "Assertion failed:
 * (env) != nullptr" in node::RemoveEnvironmentCleanupHook, from Statement::~Statement (better-sqlite3 12.x;
 * its issue #1515 was closed without a fix). A Database or Statement that stays reachable is never collected;
 * at exit Node frees it through the same cleanup hook, safely. So every Database and every Statement is held
 * here for the life of the process: statements by their text (a bounded set, since every query deckhand makes
 * has a fixed text with parameters), databases one per open (one in production).
 */
const held = new Map<Sqlite.Database, Map<string, Sqlite.Statement>>()

export interface HeldStatements {
  /** The statement for `text`, prepared once and held for the life of the process. */
  prepare(text: string): Sqlite.Statement
  /** Runs `PRAGMA <text>` through a held statement; returns its first value, if it answers one. */
  pragma(text: string): unknown
}

/** Holds `sqlite` and hands out statements that are held with it (see above for why). */
export function holdStatements(sqlite: Sqlite.Database): HeldStatements {
  // The statements hang from this module, not from the caller's closure: a caller that drops its handle (a
  // released lock, a database closed) must not hand them to the collector.
  const statements = held.get(sqlite) ?? new Map<string, Sqlite.Statement>()
  held.set(sqlite, statements)
  const prepare = (text: string) => {
    let statement = statements.get(text)
    if (!statement) {
      statement = sqlite.prepare(text)
      statements.set(text, statement)
    }
    return statement
  }
  return {
    prepare,
    pragma(text) {
      const statement = prepare(`PRAGMA ${text}`)
      if (!statement.reader) {
        statement.run()
        return undefined
      }
      const row = statement.get() as Record<string, unknown> | undefined
      return row === undefined ? undefined : Object.values(row)[0]
    },
  }
}
