/** One line of a chart: its values, one a second; null where nothing was measured. */
export interface Series {
  name: string
  values: readonly (number | null)[]
}

export interface LineChart {
  title: string
  unit: string
  /** The x of each value, in seconds since the phase began. */
  xs: readonly number[]
  series: readonly Series[]
}

const WIDTH = 340
const HEIGHT = 170
const PAD = { left: 44, right: 10, top: 24, bottom: 34 }
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd']

export const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  )

/** A round upper bound for the y axis: 1, 2 or 5 times a power of ten, at least the largest value. */
export function niceCeiling(max: number): number {
  if (!(max > 0)) return 1
  const power = 10 ** Math.floor(Math.log10(max))
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power
  return 10 * power
}

const label = (n: number) => (n >= 10_000 ? `${Math.round(n / 1000)}k` : Number(n.toPrecision(3)).toString())

/**
 * A line chart as inline SVG: no script, no font or file from outside, so the report opens from disk anywhere.
 * A gap in the data (null) breaks the line instead of drawing it to zero.
 */
export function lineChart(chart: LineChart): string {
  const finite = chart.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)))
  const yMax = niceCeiling(Math.max(0, ...finite))
  const xMax = Math.max(1, ...chart.xs)
  const plotW = WIDTH - PAD.left - PAD.right
  const plotH = HEIGHT - PAD.top - PAD.bottom
  const x = (t: number) => PAD.left + (t / xMax) * plotW
  const y = (v: number) => PAD.top + plotH - (v / yMax) * plotH
  const paths = chart.series.map((s, i) => {
    const segments: string[][] = [[]]
    s.values.forEach((v, j) => {
      const t = chart.xs[j]
      if (v === null || !Number.isFinite(v) || t === undefined) segments.push([])
      else segments.at(-1)?.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`)
    })
    const colour = COLOURS[i % COLOURS.length]
    return segments
      .filter((points) => points.length > 0)
      .map((points) =>
        points.length === 1
          ? `<circle cx="${points[0]?.split(',')[0]}" cy="${points[0]?.split(',')[1]}" r="2" fill="${colour}"/>`
          : `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${points.join(' ')}"/>`,
      )
      .join('')
  })
  const ticks = [0, 0.5, 1].map(
    (f) =>
      `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(f * yMax)}" y2="${y(f * yMax)}" stroke="#ddd"/>` +
      `<text x="${PAD.left - 4}" y="${y(f * yMax) + 4}" text-anchor="end">${label(f * yMax)}</text>`,
  )
  const legend = chart.series
    .map(
      (s, i) =>
        `<tspan fill="${COLOURS[i % COLOURS.length]}">■</tspan> ${escapeHtml(s.name)}${i < chart.series.length - 1 ? '  ' : ''}`,
    )
    .join('')
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" ` +
    `role="img" aria-label="${escapeHtml(chart.title)}" font-family="sans-serif" font-size="10">` +
    `<text x="${PAD.left}" y="14" font-size="11" font-weight="bold">${escapeHtml(chart.title)} (${escapeHtml(chart.unit)})</text>` +
    ticks.join('') +
    `<line x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${PAD.top + plotH}" stroke="#999"/>` +
    `<text x="${PAD.left}" y="${HEIGHT - PAD.bottom + 12}">0</text>` +
    `<text x="${WIDTH - PAD.right}" y="${HEIGHT - PAD.bottom + 12}" text-anchor="end">${label(xMax)} s</text>` +
    paths.join('') +
    `<text x="${PAD.left}" y="${HEIGHT - 6}">${legend}</text>` +
    '</svg>'
  )
}
