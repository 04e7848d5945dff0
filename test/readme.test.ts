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

t.test('the README is a door: at most 500 lines, none but table rows over 120 characters', async (t) => {
  const lines = readme.trimEnd().split('\n')
  t.ok(lines.length <= 500, `README.md has ${lines.length} lines`)
  const long = lines.flatMap((line, i) => (line.length > 120 && !line.startsWith('|') ? [`${i + 1}: ${line}`] : []))
  t.same(long, [], 'no line but a table row runs past 120 characters')
})

const root = new URL('../', import.meta.url)

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
const anchor = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-')

/** The relative links of a Markdown file (code blocks and spans left out), and its headings' anchors. */
function markdown(file: URL) {
  const text = fs
    .readFileSync(file, 'utf8')
    .replace(/```[\s\S]*?```/g, '')
    .replace(/`[^`\n]*`/g, '')
  const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string).filter((l) => !/^[a-z]+:/.test(l))
  const anchors = new Set([...text.matchAll(/^#+ (.*)$/gm)].map((m) => anchor(m[1] as string)))
  return { links, anchors }
}

t.test('every relative link of the README and its docs reaches a file and a heading', async (t) => {
  const readmeUrl = new URL('README.md', root)
  const docs = [readmeUrl]
  for (const link of markdown(readmeUrl).links) {
    const path = link.split('#')[0] as string
    const doc = new URL(path, readmeUrl)
    if (path.endsWith('.md') && fs.existsSync(doc)) docs.push(doc)
  }
  for (const doc of new Set(docs.map((d) => d.href))) {
    const docUrl = new URL(doc)
    for (const link of markdown(docUrl).links) {
      const [path = '', fragment] = link.split('#')
      const target = path ? new URL(path, docUrl) : docUrl
      const name = `${docUrl.pathname.slice(root.pathname.length)}: ${link}`
      t.ok(fs.existsSync(target), `${name} exists`)
      if (fragment && target.pathname.endsWith('.md') && fs.existsSync(target)) {
        t.ok(markdown(target).anchors.has(fragment), `${name}: the heading exists`)
      }
    }
  }
})
