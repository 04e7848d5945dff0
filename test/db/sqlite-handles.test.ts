import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import t from 'tap'
import { startSignupLimit } from '../../src/bench/service.ts'

t.test(
  'better-sqlite3 statements are never left to the garbage collector (Node 24 aborts when it takes one)',
  async (t) => {
    // On Node 24 a Statement collected outside a JavaScript context aborts the process with SIGABRT
    // ("Assertion failed: (env) != nullptr"); src/db/sqlite-handles.ts holds every one. On Node 20 the same run
    // passes either way, which is why .ci/run runs the suite on Node 24 too.
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', new URL('../helpers/sqlite-under-gc.ts', import.meta.url).pathname],
      { encoding: 'utf8', timeout: 60_000 },
    )
    t.equal(run.signal, null, `not killed by a signal (${run.signal}): ${run.stderr.slice(0, 300)}`)
    t.equal(run.status, 0)
    t.match(run.stdout, /survived/)
  },
)

t.test(
  "the bench's bare signup route holds its statements too: it serves signups while every collection is a full one",
  async (t) => {
    // The route migrates deckhand's schema with better-sqlite3 of its own; on Node 24 it aborted at start-up once the
    // collector took a statement of the migrations. --gc-global makes every collection a full one, at once.
    const route = await startSignupLimit({}, ['--gc-global'])
    t.teardown(() => route.stop())
    const statuses = new Set<number | string>()
    for (let i = 0; i < 200; i++) {
      const res = await fetch(`${route.url}/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `gc${i}@example.com` }),
      }).catch((err: Error) => err)
      statuses.add(res instanceof Error ? res.message : res.status)
    }
    t.same([...statuses], [201], 'every signup answered 201, none refused or cut off')
  },
)

t.test(
  'every better-sqlite3 database in src/, workers/ and test/ is held, and nothing prepares on it directly',
  async (t) => {
    // The run above can only catch what it runs, and a collection outside a context is rare: a test file that
    // prepared on its own database aborted one CI run on Node 24 in many. So the rule is read from the code: a
    // database made with better-sqlite3 goes to holdStatements, and its statements and pragmas come from there.
    const root = new URL('../../', import.meta.url)
    const files = ['src', 'workers', 'test'].flatMap((dir) =>
      fs
        .readdirSync(new URL(dir, root), { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.ts'))
        .map((file) => `${dir}/${file}`),
    )
    const broken: string[] = []
    let databases = 0
    for (const file of files) {
      const text = fs.readFileSync(new URL(file, root), 'utf8')
      const name = /^import (\w+) from 'better-sqlite3'/m.exec(text)?.[1]
      if (!name) continue
      for (const made of text.matchAll(new RegExp(`(\\S*)\\s*(?:=\\s*)?new ${name}\\(`, 'g'))) {
        databases++
        const line = text.slice(0, made.index).split('\n').length
        const [before] = made.slice(1)
        const held = /^(?:const|let)?\s*(\w+)$/.exec(before ?? '')?.[1]
        if (before?.endsWith('holdStatements(')) continue
        if (!held || !text.includes(`holdStatements(${held})`))
          broken.push(`${file}:${line}: not given to holdStatements`)
        else if (new RegExp(`\\b${held}\\.(prepare|pragma|iterate)\\(`).test(text))
          broken.push(`${file}:${line}: ${held} prepares statements of its own`)
      }
    }
    t.ok(databases >= 10, `the scan found the databases it checks (${databases})`)
    t.same(broken, [], 'every database is held, and its statements come from holdStatements')
  },
)
