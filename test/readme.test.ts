import fs from 'node:fs'
import t from 'tap'
import { ConfigSchema } from '../src/config.ts'

const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8')

t.test('the README configuration table lists every setting with its real default', async (t) => {
  for (const [name, schema] of Object.entries(ConfigSchema.properties)) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`))
    t.ok(row, `${name} has a row`)
    const def = (schema as { default?: unknown }).default
    const shown = row?.split('|')[2]?.trim()
    t.equal(shown, def === undefined ? 'unset' : `\`${def}\``, `${name} default`)
  }
})

t.test('the README shows the two commands', async (t) => {
  t.match(readme, /npm install\nnpm start/)
  t.match(readme, /npm test/)
})
