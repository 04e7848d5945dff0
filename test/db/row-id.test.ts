import t from 'tap'
import { rowId } from '../../src/db/row-id.ts'

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('a row id is a UUIDv7: the creation time first, in milliseconds, then random bits', async (t) => {
  const at = Date.UTC(2026, 10, 29, 9, 30)
  const id = rowId(at)
  t.match(id, V7)
  t.equal(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16), at, 'the first 48 bits are the time')
  const ids = Array.from({ length: 10_000 }, () => rowId(at))
  t.equal(new Set(ids).size, ids.length, 'ids of one millisecond differ')
  t.ok(
    ids.every((x) => V7.test(x)),
    'every one is well formed',
  )
  // The variant's two free bits are random too: all four variant digits turn up.
  t.same(new Set(ids.map((x) => x[19])), new Set(['8', '9', 'a', 'b']))
})

t.test('ids of later milliseconds sort after earlier ones, as text: a B-tree insert lands at the end', async (t) => {
  const start = Date.UTC(2026, 10, 29)
  const ids = Array.from({ length: 1000 }, (_, i) => rowId(start + i * 37))
  t.same([...ids].sort(), ids)
  // Across the 2^40 ms boundary (the year 2004 → far ahead): fixed width, so text order is time order.
  t.ok(rowId(2 ** 40 - 1) < rowId(2 ** 40))
})
