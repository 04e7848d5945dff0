import type { LookupAddress } from 'node:dns'
import dns from 'node:dns'
import type { LookupFunction } from 'node:net'

export interface HostResolverOptions {
  /** WEBHOOK_TIMEOUT_MS: a query's wait for its answer; the attempt as a whole is bounded by it too (post.ts). */
  timeoutMs: number
  /** Tests only: the DNS servers to ask instead of the system's (resolv.conf). */
  servers?: string[] | undefined
  /** WEBHOOK_ALLOW_PRIVATE: a name DNS does not know is looked up by the system too (/etc/hosts: localhost). */
  systemFallback: boolean
}

/**
 * Resolves webhook hosts with c-ares (node:dns Resolver: A and AAAA, sockets on the event loop) instead of
 * dns.lookup. dns.lookup is getaddrinfo on libuv's thread pool: libuv lets it take only half the pool, so files
 * and sharp keep the other half, but lookups queue behind one another there and cannot be cancelled, so one
 * receiver whose DNS server does not answer holds every other delivery's lookup, and the mail, S3 and database
 * clients' lookups too, for as long as the system resolver waits (resolv.conf: 5 s a try by default), whatever
 * WEBHOOK_TIMEOUT_MS says.
 *
 * The system's lookup is kept only with WEBHOOK_ALLOW_PRIVATE, for names DNS does not know: c-ares asks DNS
 * servers alone, and development receivers are often named by /etc/hosts (localhost, containers' names). A
 * public receiver is in public DNS.
 */
export function hostResolver(options: HostResolverOptions): LookupFunction {
  const resolver = new dns.promises.Resolver({ timeout: options.timeoutMs, tries: 1 })
  if (options.servers) resolver.setServers(options.servers)
  return (hostname, lookupOptions, callback) => {
    const family = lookupOptions.family === 'IPv4' ? 4 : lookupOptions.family === 'IPv6' ? 6 : lookupOptions.family
    resolveBoth(resolver, hostname, family).then(
      (addresses) => answer(lookupOptions.all === true, addresses, callback),
      (err: NodeJS.ErrnoException) => {
        if (options.systemFallback && (err.code === dns.NOTFOUND || err.code === dns.NODATA)) {
          dns.lookup(hostname, lookupOptions, callback)
        } else {
          callback(err, '', 0)
        }
      },
    )
  }
}

async function resolveBoth(resolver: dns.promises.Resolver, hostname: string, family: number | undefined) {
  const [v4, v6] = await Promise.allSettled([
    family === 6 ? Promise.resolve([]) : resolver.resolve4(hostname),
    family === 4 ? Promise.resolve([]) : resolver.resolve6(hostname),
  ])
  const addresses: LookupAddress[] = [
    ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
    ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
  ]
  if (addresses.length) return addresses
  // No address: a timeout says more than the other family's "no such record".
  const errors = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [r.reason as NodeJS.ErrnoException] : []))
  throw errors.find((e) => e.code === dns.TIMEOUT) ?? errors[0] ?? notFound(hostname)
}

function answer(all: boolean, addresses: LookupAddress[], callback: Parameters<LookupFunction>[2]) {
  if (all) (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, addresses)
  else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4)
}

const notFound = (hostname: string) =>
  Object.assign(new Error(`no address for ${hostname}`), { code: dns.NOTFOUND }) as NodeJS.ErrnoException
