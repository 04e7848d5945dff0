import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { type Browser, chromium } from 'playwright-core'

/*
 * A real browser for the dashboard's tests: Debian's Chromium driven by playwright-core (which downloads no
 * browser of its own). Where it is not installed the tests skip and say why; under REQUIRE_SERVICES=1 (CI,
 * whose .ci/run installs it) they fail instead.
 */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const required = process.env.REQUIRE_SERVICES === '1'
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update']

interface Tap {
  teardown(fn: () => unknown): void
  plan(n: number, comment?: string): void
  fail(message: string): void
}

/** Chromium, headless, closed when the test ends; undefined (the test skipped or failed) when there is none. */
export async function launchChromium(t: Tap): Promise<Browser | undefined> {
  if (!fs.existsSync(chromiumPath)) {
    const problem = `no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH)`
    if (required) t.fail(`REQUIRE_SERVICES=1 but ${problem}`)
    else t.plan(0, `skipped: needs a browser: ${problem}`)
    return undefined
  }
  // playwright's headless flag adds --headless; the rest keeps Chromium from calling anywhere on its own.
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: FLAGS })
  t.teardown(() => browser.close())
  return browser
}

/**
 * Where a test's screenshot for the README goes: test/screenshots/NAME with UPDATE_SCREENSHOTS=1 (then commit
 * it), elsewhere a temporary file, so that an ordinary run takes and checks the picture without changing the
 * checkout.
 */
export function screenshotPath(t: Pick<Tap, 'teardown'>, name: string): string {
  if (process.env.UPDATE_SCREENSHOTS === '1') return new URL(`../screenshots/${name}`, import.meta.url).pathname
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deckhand-screenshot-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, name)
}
