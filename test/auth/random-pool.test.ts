import t from 'tap'
import { newToken } from '../../src/auth/tokens.ts'
import { randomBase64url } from '../../src/random-pool.ts'

t.test('random text from the pool: never handed out twice, across many refills', async (t) => {
  // 32 bytes a call, 4 KiB a refill: 20,000 calls cross the refill 156 times, at every offset a caller can reach.
  const seen = new Set<string>()
  for (let i = 0; i < 20_000; i++) seen.add(randomBase64url(32))
  t.equal(seen.size, 20_000, 'every value distinct')
  // Sizes that do not divide the pool leave a tail unused at each refill instead of overlapping the next draw.
  const odd = new Set<string>()
  for (let i = 0; i < 5_000; i++) odd.add(randomBase64url(33))
  t.equal(odd.size, 5_000)
  t.throws(() => randomBase64url(4097), RangeError, 'more than the pool at once is refused')
})

t.test(
  'a token is the user id and 256 random bits (43 base64url characters), and its hash is of those bits',
  async (t) => {
    const id = '0b6f7f5e-1d3c-4e8a-9b2a-5c4d3e2f1a0b'
    const a = newToken(id)
    const b = newToken(id)
    t.match(a.token, /^0b6f7f5e-1d3c-4e8a-9b2a-5c4d3e2f1a0b\.[A-Za-z0-9_-]{43}$/)
    t.not(a.token, b.token)
    t.notSame(a.hash, b.hash)
    // 32 bytes decode back from the 43 characters: nothing was cut short.
    t.equal(Buffer.from(a.token.split('.')[1] as string, 'base64url').length, 32)
  },
)
