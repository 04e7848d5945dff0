import t from 'tap'
import { createReadings } from '../../src/dashboard/readings.ts'
import { readWorker } from '../../src/dashboard/worker-metrics.ts'
import { parsePrometheusText } from '../../src/prometheus-text.ts'
import { signup, startApp } from '../helpers/app.ts'
import { freePort, listen } from '../helpers/ports.ts'
import { waitFor } from '../helpers/wait.ts'

const METRICS_TOKEN = 'metrics-token-for-tests-0123456789'

t.test('the metrics text is read for the names asked, labels unescaped, the rest skipped', async (t) => {
  const text = [
    '# HELP deckhand_mail_attempts_total Mail send attempts',
    '# TYPE deckhand_mail_attempts_total counter',
    'deckhand_mail_attempts_total{kind="mail.welcome",outcome="succeeded"} 12',
    'deckhand_mail_attempts_total{kind="a \\"quoted\\" kind\\\\",outcome="failed"} 3',
    'process_resident_memory_bytes 104857600',
    'deckhand_other 5',
    'deckhand_mail_attempts_total{kind="x",outcome="retry"} NaN',
    '',
  ].join('\n')
  t.same(parsePrometheusText(text, new Set(['deckhand_mail_attempts_total', 'process_resident_memory_bytes'])), [
    { name: 'deckhand_mail_attempts_total', labels: { kind: 'mail.welcome', outcome: 'succeeded' }, value: 12 },
    { name: 'deckhand_mail_attempts_total', labels: { kind: 'a "quoted" kind\\', outcome: 'failed' }, value: 3 },
    { name: 'process_resident_memory_bytes', labels: {}, value: 104857600 },
  ])
})

t.test('workers’ own numbers come from their GET /metrics; one that cannot be read is named', async (t) => {
  // The "worker" is an all-in-one process: it serves the same /metrics a `deckhand worker` does.
  const worker = await startApp(t, { METRICS_TOKEN })
  const workerUrl = await listen(worker)
  const workerHost = new URL(workerUrl).host
  const away = `127.0.0.1:${await freePort()}`
  const api = await startApp(t)
  const errors: unknown[] = []
  const readings = createReadings({
    registry: api.metrics.registry,
    eventLoop: api.metrics.eventLoop,
    queue: api.queue,
    pool: api.pool,
    workers: { urls: [workerUrl, `http://${away}`], token: METRICS_TOKEN, timeoutMs: 900 },
    onError: (err) => errors.push(err),
  })
  const first = await readings.read(Date.now(), true)
  t.equal(first.workers?.[workerHost], 'ok')
  t.match(first.workers?.[away], /fetch failed/, 'the unreachable worker is named, with the reason')
  t.ok((first.charts.rss?.[`MiB @${workerHost}`] ?? 0) > 10, 'the worker’s RSS')
  t.equal(first.charts.pool?.[`threads @${workerHost}`], worker.pool?.threads)

  const ann = await signup(worker, 'ann@example.com')
  await waitFor('the worker sent both mails', async () => {
    const jobs = await Promise.all(ann.jobs.map((j) => worker.queue.get(j.id)))
    return jobs.every((j) => j?.status === 'succeeded')
  })
  const second = await readings.read(Date.now(), true)
  t.ok((second.charts.mails?.[`sent @${workerHost}`] ?? 0) > 0, 'the worker’s mails sent/s')
  t.ok((second.charts.finished?.[`mail.welcome succeeded @${workerHost}`] ?? 0) > 0, 'the worker’s jobs/s')
  t.equal(second.charts.mails?.sent, 0, 'this process sent none')
  t.notOk(
    Object.keys(second.charts.mails ?? {}).some((k) => k.includes(away)),
    'nothing made up for the other',
  )

  const wrongToken = createReadings({
    registry: api.metrics.registry,
    eventLoop: api.metrics.eventLoop,
    queue: api.queue,
    pool: undefined,
    workers: { urls: [workerUrl], token: undefined, timeoutMs: 900 },
    onError: (err) => errors.push(err),
  })
  t.match((await wrongToken.read(Date.now(), true)).workers?.[workerHost], /answered 401/)
  t.same(errors, [])
})

t.test('reading a worker every second leaves its event-loop delay whole for Prometheus', async (t) => {
  const worker = await startApp(t, { METRICS_TOKEN })
  const workerUrl = await listen(worker)
  const scrape = (url: string) =>
    fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).then((r) => r.text())
  await scrape(`${workerUrl}/metrics`) // Prometheus's scrape: a fresh interval from here
  // Node's monitor skips its first tick after a reset: let it tick before the block.
  await new Promise((resolve) => setTimeout(resolve, 50))
  const blockedUntil = performance.now() + 120
  while (performance.now() < blockedUntil); // the worker's loop (this process's) held for 120 ms
  await new Promise((resolve) => setTimeout(resolve, 50))
  const figures = await readWorker(workerUrl, METRICS_TOKEN, 2000)
  t.ok(figures.rssBytes > 0, 'the dashboard read the worker')
  const text = await scrape(`${workerUrl}/metrics`)
  const max = Number(text.match(/^nodejs_eventloop_lag_max_seconds (\S+)$/m)?.[1]) * 1000
  t.ok(max >= 100, `Prometheus's next scrape still has the 120 ms block (max ${max.toFixed(0)} ms)`)
})
