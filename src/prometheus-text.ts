/** One sample of Prometheus's text exposition format. */
export interface PromSample {
  name: string
  labels: Record<string, string>
  value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g
const unescapeLabel = (value: string) => value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))

/**
 * The samples of the metrics named in `wanted`, from deckhand's own GET /metrics (prom-client's text format): a
 * worker's, read by the dashboard; the service's, read by the bench. Narrow on purpose: deckhand reads itself, not
 * any exporter, so comments, timestamps and exemplars are skipped rather than interpreted.
 */
export function parsePrometheusText(text: string, wanted: ReadonlySet<string>): PromSample[] {
  const out: PromSample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = LINE.exec(line)
    if (!match || !wanted.has(match[1] as string)) continue
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL))
      labels[key as string] = unescapeLabel(value as string)
    const value = Number(match[3])
    if (!Number.isNaN(value)) out.push({ name: match[1] as string, labels, value })
  }
  return out
}
