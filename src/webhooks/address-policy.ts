import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'

/*
 * Which IP addresses deckhand calls webhooks at: the one classifier behind both the check of a URL as it is set
 * (url-policy.ts, for a host written as an address) and the check of each connection (guard.ts, for the address
 * given or every address DNS returns), so that a URL accepted at PUT is one the guard lets through.
 *
 * IPv4: public unicast only (ipaddr.js: not loopback, private, link-local, CGNAT, multicast, broadcast,
 * unspecified, documentation or otherwise reserved).
 *
 * IPv6: global unicast only (2000::/3, RFC 4291) that ipaddr.js calls unicast, with these deliberate choices for
 * the forms that carry an IPv4 address inside:
 * - IPv4-mapped ::ffff:a.b.c.d is a.b.c.d to the kernel (a dual-stack socket connects over IPv4): it is judged
 *   as that IPv4 address, so ::ffff:8.8.8.8 passes and ::ffff:127.0.0.1 does not, at PUT and at connect alike.
 * - NAT64's well-known prefix 64:ff9b::/96 (RFC 6052) is judged as its embedded IPv4 address: on an IPv6-only
 *   network DNS64 answers every IPv4-only receiver with such an address, so refusing the prefix would refuse
 *   them all, while the translator would carry 64:ff9b::10.0.0.1 to 10.0.0.1.
 * - IPv4-compatible ::/96 (deprecated by RFC 4291) is refused: automatic tunnelling (Linux's sit0) carries
 *   ::7f00:1 to 127.0.0.1, ipaddr.js calls the range unicast, and no receiver has such an address.
 * - NAT64's local-use prefix 64:ff9b:1::/48 (RFC 8215), 6to4 2002::/16 (deprecated by RFC 7526) and Teredo
 *   2001::/32 are refused whatever they embed: each is a tunnel or translator whose other end and prefix length
 *   are the operator's, so the embedded IPv4 address cannot be told reliably; a real receiver has a native
 *   address besides.
 */

/** Why `address` (an IP address as text) is not one deckhand calls; undefined when it is. */
export function addressRefusal(address: string): string | undefined {
  if (!isIP(address)) return `${address}, which is not an IP address`
  const parsed = ipaddr.parse(address)
  if (parsed.kind() === 'ipv4') return ipv4Refusal(parsed as ipaddr.IPv4)
  const v6 = parsed as ipaddr.IPv6
  if (v6.isIPv4MappedAddress()) return ipv4Refusal(v6.toIPv4Address(), 'IPv4-mapped ')
  if (v6.match(NAT64_WELL_KNOWN)) return ipv4Refusal(embeddedIPv4(v6), 'NAT64 ')
  const range = v6.range()
  if (range !== 'unicast') return `an address that is ${range}, not public`
  if (v6.match(IPV4_COMPATIBLE)) return 'an IPv4-compatible address (::/96, deprecated)'
  if (!v6.match(GLOBAL_UNICAST)) return 'an address outside global unicast (2000::/3)'
  return undefined
}

/** A URL's hostname as a connection names it: an IPv6 address without its brackets, a name without its root dots. */
export const bareHost = (hostname: string) => hostname.replace(/^\[|\]$/g, '').replace(/\.+$/, '')

/** Whether `host` is written as an IP address (and so is connected to without DNS). */
export const isAddress = (host: string) => isIP(host) !== 0

const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96') as [ipaddr.IPv6, number]
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96') as [ipaddr.IPv6, number]
const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3') as [ipaddr.IPv6, number]

function ipv4Refusal(v4: ipaddr.IPv4, form = ''): string | undefined {
  const range = v4.range()
  return range === 'unicast' ? undefined : `${form}an address that is ${range}, not public`
}

function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 {
  const [, , , , , , high = 0, low = 0] = v6.parts
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff])
}
