// The live page: charts fed by /dashboard/stream (Server-Sent Events), and the job table. Everything the
// service sends is set as text, never as HTML.

const CHARTS = [
  { id: 'requests', title: 'Requests/s by route, and errors (4xx, 5xx) of all routes; not the dashboard’s own' },
  { id: 'latency', title: 'Request latency, ms: p50 and p99, interpolated within the histogram’s buckets' },
  { id: 'loop', title: 'Event-loop delay, ms: how late a 5 ms timer fired' },
  { id: 'jobs', title: 'Jobs queued and running, by kind' },
  { id: 'finished', title: 'Jobs finished/s, by kind and outcome' },
  { id: 'queueLatency', title: 'Queue latency by kind, s (oldest due job)' },
  { id: 'pool', title: 'Image pool threads' },
  { id: 'mails', title: 'Mails sent/s' },
  { id: 'rss', title: 'RSS, MiB' },
]
const WINDOW_S = 600
// Tableau's ten, made to be told apart (blue and violet, say, were too alike).
const COLORS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
]
// Past the palette, hues a golden angle apart: each series of a chart keeps a colour no other one of it has.
const colorFor = (i) => (i < COLORS.length ? COLORS[i] : `hsl(${Math.round((i * 137.508) % 360)} 70% 42%)`)

const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag)
  Object.assign(node, props)
  for (const child of children) node.append(child)
  return node
}

// ---- charts -------------------------------------------------------------------------------------------------

const times = []
const charts = new Map()

for (const def of CHARTS) {
  const box = el('div', { className: 'chart', id: `chart-${def.id}` }, el('h3', { textContent: def.title }))
  const plotArea = el('div', { className: 'plot' })
  const empty = el('p', { className: 'empty', textContent: 'no figures yet' })
  box.append(plotArea, empty)
  document.getElementById('charts').append(box)
  charts.set(def.id, {
    def,
    box,
    plotArea,
    empty,
    names: [],
    values: new Map(),
    colors: new Map(),
    plot: undefined,
    dirty: false,
  })
}

function reset() {
  times.length = 0
  for (const chart of charts.values()) {
    chart.names = []
    chart.values = new Map()
    chart.colors = new Map()
    chart.dirty = true
  }
}

function add(sample) {
  times.push(sample.t / 1000)
  for (const [id, chart] of charts) {
    const figures = sample.charts[id] || {}
    for (const name of Object.keys(figures)) {
      if (!chart.values.has(name)) {
        chart.values.set(name, new Array(times.length - 1).fill(null))
        chart.colors.set(name, colorFor(chart.colors.size))
        chart.names.push(name)
        chart.names.sort()
        chart.dirty = true
      }
    }
    for (const [name, values] of chart.values) values.push(figures[name] ?? null)
  }
  const oldest = sample.t / 1000 - WINDOW_S
  let drop = 0
  while (drop < times.length && times[drop] < oldest) drop++
  if (drop > 0) {
    times.splice(0, drop)
    for (const chart of charts.values()) for (const values of chart.values.values()) values.splice(0, drop)
  }
}

function draw() {
  for (const chart of charts.values()) {
    const data = [times.slice(), ...chart.names.map((name) => chart.values.get(name).slice())]
    chart.empty.hidden = chart.names.length > 0
    if (chart.dirty || !chart.plot) {
      chart.plot?.destroy()
      chart.plot = undefined
      chart.dirty = false
      if (chart.names.length > 0) {
        chart.plot = new uPlot(
          {
            width: Math.max(320, chart.box.clientWidth - 16),
            height: 180,
            // Every figure drawn is 0 or more: an axis from 0 shows how far from nothing a line is.
            scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
            axes: [{}, { size: 56 }],
            series: [{}, ...chart.names.map((label) => ({ label, stroke: chart.colors.get(label), width: 1.5 }))],
            legend: { live: false },
            hooks: {
              // What the browser tests read: where the value axis starts.
              setScale: [
                (u, key) => {
                  if (key === 'y') chart.box.dataset.ymin = String(u.scales.y.min)
                },
              ],
            },
          },
          data,
          chart.plotArea,
        )
      }
    } else {
      chart.plot.setData(data)
    }
    // What the browser tests read: how many seconds the chart holds, and the sum of its latest figures.
    chart.box.dataset.samples = String(times.length)
    chart.box.dataset.last = String(chart.names.reduce((sum, name) => sum + (chart.values.get(name).at(-1) ?? 0), 0))
  }
}

const status = document.getElementById('status')
const stream = new EventSource('/dashboard/stream')
stream.addEventListener('open', () => {
  status.textContent = 'live'
})
stream.addEventListener('error', () => {
  status.textContent =
    stream.readyState === EventSource.CLOSED
      ? 'disconnected: reload the page (the session may have ended)'
      : 'reconnecting…'
})
stream.addEventListener('scope', (event) => {
  document.getElementById('scope').textContent = JSON.parse(event.data).note
})
stream.addEventListener('history', (event) => {
  reset()
  for (const sample of JSON.parse(event.data)) add(sample)
  draw()
})
const workersLine = document.getElementById('workers')
stream.addEventListener('sample', (event) => {
  const sample = JSON.parse(event.data)
  add(sample)
  if (sample.workers) {
    workersLine.hidden = false
    workersLine.textContent = `Workers: ${Object.entries(sample.workers)
      .map(([host, state]) => (state === 'ok' ? `${host} ok` : `${host} not read (${state}): its numbers are missing`))
      .join('; ')}`
  }
  for (const name of Object.keys(sample.charts.jobs || {})) learnKind(name.split(' ')[0])
  draw()
})

// ---- jobs ---------------------------------------------------------------------------------------------------

const statusFilter = document.getElementById('filter-status')
const kindFilter = document.getElementById('filter-kind')
const tbody = document.querySelector('#job-table tbody')
const detail = document.getElementById('job-detail')
const retryButton = document.getElementById('retry')
const detailMessage = document.getElementById('detail-message')
const kinds = new Set()
let openJobId

// The detail opens under the row clicked, over the rows below it, rather than after the whole table.
function placeDetail() {
  const row = tbody.querySelector(`tr[data-id="${CSS.escape(openJobId ?? '')}"]`)
  if (!row) return
  const rect = row.getBoundingClientRect()
  detail.style.top = `${rect.bottom + window.scrollY + 4}px`
}

function learnKind(kind) {
  if (!kind || kinds.has(kind)) return
  kinds.add(kind)
  kindFilter.append(el('option', { value: kind, textContent: kind }))
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : '')
// From one time to the next, as "1.25 s" (the last attempt's, for a retried job).
const took = (from, to) => (from && to ? `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(2)} s` : '')

async function getJson(url, init) {
  const res = await fetch(url, init)
  const body = await res.json().catch(() => ({}))
  if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`)
  return body
}

async function loadJobs() {
  const query = new URLSearchParams()
  if (statusFilter.value) query.set('status', statusFilter.value)
  if (kindFilter.value) query.set('kind', kindFilter.value)
  query.set('limit', '25')
  try {
    const { jobs } = await getJson(`/dashboard/jobs?${query}`)
    tbody.replaceChildren(
      ...jobs.map((job) => {
        learnKind(job.kind)
        const row = el(
          'tr',
          { className: `job status-${job.status}` },
          el('td', { textContent: when(job.createdAt) }),
          el('td', { textContent: job.kind }),
          el('td', { className: 'status', textContent: job.status }),
          el('td', { textContent: String(job.attempts) }),
          el('td', { textContent: job.ownerId }),
          el('td', { textContent: job.error?.code ?? '' }),
          el('td', { className: 'id', textContent: job.id }),
        )
        row.dataset.id = job.id
        row.addEventListener('click', () => openJob(job.id))
        return row
      }),
    )
    tbody.parentElement.dataset.loaded = String(Date.now())
    if (openJobId) placeDetail()
  } catch (err) {
    tbody.replaceChildren(el('tr', {}, el('td', { colSpan: 7, textContent: `Jobs could not be read: ${err.message}` })))
  }
}

function field(name, value) {
  if (value === undefined || value === null || value === '') return []
  return [el('dt', { textContent: name }), el('dd', { textContent: String(value) })]
}

async function openJob(id) {
  if (openJobId !== id) detailMessage.textContent = ''
  openJobId = id
  try {
    const job = await getJson(`/dashboard/jobs/${id}`)
    if (openJobId !== id) return
    document.getElementById('detail-id').textContent = job.id
    document
      .getElementById('detail-fields')
      .replaceChildren(
        ...field('Status', job.status),
        ...field('Kind', job.kind),
        ...field('Owner id', job.ownerId),
        ...field('Attempts', job.attempts),
        ...field('Stage', job.stage),
        ...field('Created', when(job.createdAt)),
        ...field('Started', when(job.startedAt)),
        ...field('Finished', when(job.finishedAt)),
        ...field('Waited', took(job.createdAt, job.startedAt)),
        ...field('Ran', took(job.startedAt, job.finishedAt)),
        ...field('Next attempt', when(job.nextAttemptAt)),
        ...field('Error', job.error && `${job.error.code}: ${job.error.message}`),
        ...field('Error detail', job.error?.detail),
        ...field('Cannot be retried', job.retryRefusal),
      )
    detail.dataset.status = job.status
    // Offered only when a retry can succeed: the service says so (an avatar whose upload is gone cannot).
    retryButton.hidden = !job.retryable
    if (detail.hidden) {
      detail.hidden = false
      placeDetail()
    }
  } catch (err) {
    detailMessage.textContent = `The job could not be read: ${err.message}`
  }
}

retryButton.addEventListener('click', async () => {
  const id = openJobId
  retryButton.disabled = true
  try {
    await getJson(`/dashboard/jobs/${id}/retry`, { method: 'POST' })
    detailMessage.textContent = 'Queued again with a fresh set of attempts.'
    await openJob(id)
    await loadJobs()
  } catch (err) {
    detailMessage.textContent = `Retry refused: ${err.message}`
  } finally {
    retryButton.disabled = false
  }
})

document.getElementById('detail-close').addEventListener('click', () => {
  openJobId = undefined
  detail.hidden = true
  detailMessage.textContent = ''
})

statusFilter.addEventListener('change', loadJobs)
kindFilter.addEventListener('change', loadJobs)
document.getElementById('logout').addEventListener('submit', async (event) => {
  event.preventDefault()
  await fetch('/dashboard/logout', { method: 'POST' })
  location.reload()
})

// The table and an open job follow the service every two seconds.
loadJobs()
setInterval(() => {
  loadJobs()
  if (openJobId) openJob(openJobId)
}, 2000)
