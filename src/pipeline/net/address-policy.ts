import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Which IP addresses the service may contact on a user's behalf (image URLs, webhooks).
 *
 * Deny by default: an IPv4 address must be outside every special-purpose block below;
 * an IPv6 address must be global unicast (2000::/3) and outside the special blocks, except
 * that forms embedding an IPv4 address (IPv4-mapped, IPv4-compatible, IPv4-translated,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by the IPv4 address they embed.
 *
 * The allow-list (config FETCH_ALLOW_HOSTS) exempts exact `host:port` pairs as written in
 * the URL; it is checked by the caller (safe-http), never here, so an allow-listed host
 * cannot lend its exemption to the address another host resolves to.
 */

export type AddressVerdict = { allowed: true; address: string } | { allowed: false; address: string; reason: string };

type Block = readonly [cidr: string, reason: string];

/** Refused IPv4 blocks (IANA IPv4 Special-Purpose Address Registry, plus multicast and 240/4). */
const IPV4_BLOCKS: readonly Block[] = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrier-grade NAT'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', '6to4 relay anycast'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
];

/** Refused IPv6 blocks that are not judged by an embedded IPv4 address. */
const IPV6_BLOCKS: readonly Block[] = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['64:ff9b:1::/48', 'local-use NAT64'],
  ['100::/64', 'discard-only'],
  ['2001::/23', 'IETF protocol assignments (incl. Teredo)'],
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['5f00::/16', 'segment routing'],
  ['fc00::/7', 'unique local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
];

const parseBlocks = (blocks: readonly Block[]) =>
  blocks.map(([cidr, reason]) => ({ range: ipaddr.parseCIDR(cidr), reason }));

const V4 = parseBlocks(IPV4_BLOCKS);
const V6 = parseBlocks(IPV6_BLOCKS);
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/** IPv6 prefixes whose low or middle bits carry an IPv4 address, and where. */
const EMBEDDING: readonly { range: [ipaddr.IPv4 | ipaddr.IPv6, number]; name: string; at: 'low' | '6to4' }[] = [
  { range: ipaddr.parseCIDR('::ffff:0:0/96'), name: 'IPv4-mapped', at: 'low' },
  { range: ipaddr.parseCIDR('::ffff:0:0:0/96'), name: 'IPv4-translated', at: 'low' },
  { range: ipaddr.parseCIDR('64:ff9b::/96'), name: 'NAT64', at: 'low' },
  { range: ipaddr.parseCIDR('2002::/16'), name: '6to4', at: '6to4' },
  // Last: ::/96 also holds :: and ::1, which the block list refuses first.
  { range: ipaddr.parseCIDR('::/96'), name: 'IPv4-compatible', at: 'low' },
];

function v4FromParts(hi: number, lo: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

function checkV4(ip: ipaddr.IPv4): string | null {
  for (const b of V4) if (ip.match(b.range)) return b.reason;
  return null;
}

function checkV6(ip: ipaddr.IPv6): string | null {
  for (const b of V6) if (ip.match(b.range)) return b.reason;
  for (const e of EMBEDDING) {
    if (!ip.match(e.range)) continue;
    const p = ip.parts;
    const v4 = e.at === 'low' ? v4FromParts(p[6]!, p[7]!) : v4FromParts(p[1]!, p[2]!);
    const inner = checkV4(v4);
    return inner === null ? null : `${e.name} form of ${v4.toString()} (${inner})`;
  }
  if (!ip.match(GLOBAL_UNICAST_V6)) return 'not global unicast';
  return null;
}

/**
 * Judges one IP address in its canonical text form (as returned by DNS or a socket:
 * dotted-quad IPv4 or RFC 4291 IPv6, optionally bracketed or with a %zone).
 * Anything that is not such an address is refused.
 */
export function checkAddress(address: string): AddressVerdict {
  let a = address.trim();
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  const zone = a.indexOf('%');
  if (zone !== -1) a = a.slice(0, zone);
  // net.isIP accepts only canonical dotted-quad IPv4 (no octal/hex/short forms) and real IPv6.
  const family = net.isIP(a);
  if (family === 0) return { allowed: false, address, reason: 'not an IP address' };
  // IPv6 goes through the WHATWG serialiser first: it writes every address in pure hex
  // (ipaddr.js would read a dotted tail such as ::127.0.0.1 as IPv4-mapped).
  const ip = family === 4 ? ipaddr.parse(a) : ipaddr.parse(new URL(`http://[${a}]/`).hostname.slice(1, -1));
  const reason = ip.kind() === 'ipv4' ? checkV4(ip as ipaddr.IPv4) : checkV6(ip as ipaddr.IPv6);
  return reason === null ? { allowed: true, address } : { allowed: false, address, reason };
}

export function isAddressAllowed(address: string): boolean {
  return checkAddress(address).allowed;
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/**
 * `host:port` of a URL as compared with the allow-list: the WHATWG-normalised hostname
 * (lower case, IPv6 in brackets) and the effective port (default 80/443 filled in).
 */
export function hostPortOf(url: URL): string {
  const port = url.port === '' ? DEFAULT_PORTS[url.protocol] : Number(url.port);
  return `${url.hostname.toLowerCase()}:${port ?? ''}`;
}

/** Normalises an allow-list entry written as `host:port` (`[v6]:port` for IPv6). Returns null if malformed. */
export function normalizeAllowEntry(entry: string): string | null {
  const e = entry.trim();
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(e);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  let host: string;
  try {
    host = new URL(`http://${m[1]}/`).hostname.toLowerCase();
  } catch {
    return null;
  }
  return `${host}:${port}`;
}

/**
 * The `host:port` exactly as written in a URL's text (lower-cased, default port filled in), or
 * null if the text has no plain `scheme://authority`. `url` is the parsed form of the same text.
 */
export function writtenHostPort(raw: string, url: URL): string | null {
  const m = /^[\u0000-\u0020]*[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#\\]*)/.exec(raw);
  if (!m) return null;
  const authority = m[1]!.slice(m[1]!.lastIndexOf('@') + 1).toLowerCase();
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(authority);
  if (!hp) return null;
  const port = hp[2] ? hp[2] : String(DEFAULT_PORTS[url.protocol] ?? '');
  return `${hp[1]}:${port}`;
}

/**
 * True when the URL's exact host:port is on the allow-list (hosts compared case-insensitively).
 * With `written` (from writtenHostPort), the URL must also have been written in that plain form:
 * `http://2130706433:8080/` is not exempted by an entry `127.0.0.1:8080`, nor can parser quirks
 * (`http://evil.example\@127.0.0.1:8080/`) borrow an entry's exemption.
 */
export function isAllowListed(url: URL, allowHosts: readonly string[], written?: string | null): boolean {
  if (allowHosts.length === 0) return false;
  const want = hostPortOf(url);
  if (written !== undefined && written !== want) return false;
  return allowHosts.some((entry) => normalizeAllowEntry(entry) === want);
}
