import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely'
import { execute } from './run-now.ts'
import type { Schema } from './schema.ts'

type Db = Kysely<Schema>

/** Stands in for the i-th value while the query is built; never sent to the database. */
const slot = (i: number) => `\u0000deckhand-value-${i}`
const SLOT = /^\0deckhand-value-(\d+)$/

interface Compiled {
  query: CompiledQuery
  /** For each parameter of the compiled query: which value it takes, or -1 for a constant of the query. */
  slots: number[]
}

/**
 * A hot query that Kysely builds and compiles once per dialect instead of at every call. `build` writes the query
 * with `value(i)` where the i-th value goes; each call runs the same SQL text with the values in their places.
 * Kysely builds and compiles every query anew, which showed in a signup flood's CPU profile (src/bench/RESULTS.md,
 * what was tried), while the statements it makes are a handful of fixed texts. Values must be what the database
 * is to receive (a string, a number, null): `build` never sees them, so it cannot transform them.
 */
/** A query compiled once: run it with its values, or (`compile`) take it with them to send later (Transaction.write). */
export interface CompiledOnce<R> {
  (db: Db, values: readonly unknown[]): Promise<QueryResult<R>>
  compile(db: Db, values: readonly unknown[]): CompiledQuery<R>
}

export function compiledOnce<R>(build: (db: Db, value: (i: number) => never) => Compilable<R>): CompiledOnce<R> {
  const byDialect = new Map<unknown, Compiled>()
  const compile = (db: Db, values: readonly unknown[]) => {
    const dialect = db.getExecutor().adapter.constructor
    let compiled = byDialect.get(dialect)
    if (!compiled) {
      const query = build(db, (i) => slot(i) as never).compile()
      const slots = query.parameters.map((p) => {
        const match = typeof p === 'string' ? SLOT.exec(p) : null
        return match ? Number(match[1]) : -1
      })
      compiled = { query, slots }
      byDialect.set(dialect, compiled)
    }
    const { query, slots } = compiled
    const parameters = slots.map((i, k) => (i === -1 ? query.parameters[k] : values[i]))
    return { ...query, parameters } as CompiledQuery<R>
  }
  const run = (db: Db, values: readonly unknown[]) => execute(db, compile(db, values))
  return Object.assign(run, { compile })
}

/**
 * A multi-row statement compiled once for each row count it is run with (compiledOnce per count), for the few
 * sizes that come again and again (one job, a signup's two); larger ones are built each time.
 */
export function compiledPerCount<R>(
  build: (count: number) => (db: Db, value: (i: number) => never) => Compilable<R>,
  keepUpTo = 8,
): (count: number) => CompiledOnce<R> {
  const byCount = new Map<number, CompiledOnce<R>>()
  return (count) => {
    let query = byCount.get(count)
    if (!query) {
      query = compiledOnce(build(count))
      if (count <= keepUpTo) byCount.set(count, query)
    }
    return query
  }
}
