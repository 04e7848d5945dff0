import fs from 'node:fs'
import { createRequire } from 'node:module'
import { sourceFile } from '../runtime-files.ts'

const require = createRequire(import.meta.url)
const own = (name: string) => sourceFile(new URL(`./assets/${name}`, import.meta.url)).pathname

/**
 * Every file the page loads, by the name it is asked for: nothing a client sends becomes a path. uPlot comes
 * from its package in node_modules, not a copy in the repository, and no file comes from another host.
 */
const FILES = {
  'dashboard.js': { path: own('dashboard.js'), type: 'text/javascript; charset=utf-8' },
  'login.js': { path: own('login.js'), type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { path: own('dashboard.css'), type: 'text/css; charset=utf-8' },
  'uplot.js': { path: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uplot.css': { path: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
} as const

export type AssetName = keyof typeof FILES
export const ASSET_NAMES = Object.keys(FILES) as AssetName[]

export interface Asset {
  body: Buffer
  type: string
}

/** The files, read once at start-up (about 60 KiB): serving one is a lookup. */
export function loadAssets(): Record<AssetName, Asset> {
  const out = {} as Record<AssetName, Asset>
  for (const name of ASSET_NAMES) out[name] = { body: fs.readFileSync(FILES[name].path), type: FILES[name].type }
  return out
}
