import fs from 'node:fs'
import path from 'node:path'
import { changeLines, compareReports } from './compare.ts'
import { renderHtmlReport } from './html-report.ts'
import type { BenchReport } from './report.ts'

/** A JSON report written by an earlier `npm run bench`; a clear message for a file that is not one. */
export function readReport(file: string): BenchReport {
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchReport
  if (!Array.isArray(report.figures) || typeof report.machine !== 'object')
    throw new Error(`${file} is not a report of npm run bench (no figures or machine)`)
  return report
}

export function writeHtmlReport(report: BenchReport, file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
  fs.writeFileSync(file, renderHtmlReport(report))
}

/**
 * `--compare OLD.json NEW.json`: each figure's change, on stdout. Returns the exit code: 1 when a figure got
 * worse beyond the noise band (or went from PASS to MISS), so a script can stop on it.
 */
export function compareFiles(oldFile: string, newFile: string, noise: number): number {
  const changes = compareReports(readReport(oldFile), readReport(newFile), noise)
  console.log(`${oldFile} -> ${newFile}; noise band ±${noise * 100}%`)
  for (const line of changeLines(changes)) console.log(line)
  const worse = changes.filter((c) => c.verdict === 'worse').length
  console.log(worse === 0 ? '\nno figure got worse beyond the noise band' : `\n${worse} figure(s) got worse`)
  return worse === 0 ? 0 : 1
}
