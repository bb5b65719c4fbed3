import { describe, expect, it } from 'vitest';
import { checkAddress, hostPortOf, isAddressAllowed, isAllowListed, normalizeAllowEntry, writtenHostPort } from '../../src/pipeline/net/address-policy.js';

const refused: [address: string, reason: RegExp][] = [
  // IPv4
  ['127.0.0.1', /loopback/],
  ['127.255.255.254', /loopback/],
  ['10.0.0.1', /private/],
  ['10.255.255.255', /private/],
  ['172.16.0.1', /private/],
  ['172.31.255.255', /private/],
  ['192.168.1.1', /private/],
  ['169.254.169.254', /link-local/],
  ['169.254.0.1', /link-local/],
  ['100.64.0.1', /carrier-grade NAT/],
  ['100.127.255.255', /carrier-grade NAT/],
  ['0.0.0.0', /unspecified/],
  ['0.1.2.3', /unspecified/],
  ['224.0.0.1', /multicast/],
  ['239.255.255.250', /multicast/],
  ['255.255.255.255', /broadcast/],
  ['240.0.0.1', /reserved/],
  ['192.0.2.1', /documentation/],
  ['198.18.0.1', /benchmarking/],
  // IPv6
  ['::', /unspecified/],
  ['::1', /loopback/],
  ['0:0:0:0:0:0:0:1', /loopback/],
  ['[::1]', /loopback/],
  ['fc00::1', /unique local/],
  ['fd12:3456:789a::1', /unique local/],
  ['fe80::1', /link-local/],
  ['fe80::1%eth0', /link-local/],
  ['febf::1', /link-local/],
  ['fec0::1', /site-local/],
  ['ff02::1', /multicast/],
  ['2001:db8::1', /documentation/],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', /Teredo/],
  ['100::1', /discard/],
  ['4000::1', /not global unicast/],
  // IPv4-mapped
  ['::ffff:127.0.0.1', /IPv4-mapped form of 127\.0\.0\.1 \(loopback\)/],
  ['::ffff:7f00:1', /IPv4-mapped form of 127\.0\.0\.1/],
  ['::ffff:10.0.0.1', /IPv4-mapped form of 10\.0\.0\.1 \(private\)/],
  ['::ffff:169.254.169.254', /IPv4-mapped.*link-local/],
  ['::ffff:0.0.0.0', /IPv4-mapped.*unspecified/],
  // IPv4-compatible (deprecated)
  ['::127.0.0.1', /IPv4-compatible form of 127\.0\.0\.1/],
  ['::7f00:1', /IPv4-compatible form of 127\.0\.0\.1/],
  ['::192.168.0.1', /IPv4-compatible.*private/],
  // IPv4-translated (RFC 6145)
  ['::ffff:0:127.0.0.1', /IPv4-translated form of 127\.0\.0\.1/],
  // NAT64
  ['64:ff9b::127.0.0.1', /NAT64 form of 127\.0\.0\.1/],
  ['64:ff9b::a9fe:a9fe', /NAT64 form of 169\.254\.169\.254/],
  ['64:ff9b:1::1', /local-use NAT64/],
  // 6to4
  ['2002:7f00:1::1', /6to4 form of 127\.0\.0\.1/],
  ['2002:c0a8:101::', /6to4 form of 192\.168\.1\.1 \(private\)/],
  ['2002:a9fe:a9fe::1', /6to4 form of 169\.254\.169\.254/],
  // not addresses at all (non-canonical IPv4 spellings are not accepted here)
  ['localhost', /not an IP address/],
  ['2130706433', /not an IP address/],
  ['0177.0.0.1', /not an IP address/],
  ['0x7f.0.0.1', /not an IP address/],
  ['127.1', /not an IP address/],
  ['', /not an IP address/],
];

const allowed = [
  '8.8.8.8',
  '1.1.1.1',
  '93.184.216.34',
  '172.15.255.255', // just below 172.16/12
  '172.32.0.0', // just above
  '100.63.255.255', // just below 100.64/10
  '100.128.0.0', // just above
  '169.253.255.255',
  '223.255.255.255',
  '2606:4700::1',
  '2a00:1450:4001:81c::200e',
  '[2606:4700::1]',
  '::ffff:8.8.8.8', // mapped public
  '::8.8.8.8', // compatible public
  '64:ff9b::8.8.8.8', // NAT64 of public
  '2002:808:808::1', // 6to4 of 8.8.8.8
];

describe('checkAddress', () => {
  it.each(refused)('refuses %s', (address, reason) => {
    const v = checkAddress(address);
    expect(v.allowed).toBe(false);
    expect(v.allowed ? '' : v.reason).toMatch(reason);
    expect(isAddressAllowed(address)).toBe(false);
  });

  it.each(allowed)('allows %s', (address) => {
    expect(checkAddress(address)).toEqual({ allowed: true, address });
    expect(isAddressAllowed(address)).toBe(true);
  });
});

describe('allow-list', () => {
  it('derives host:port with default ports and normalised hosts', () => {
    expect(hostPortOf(new URL('http://Example.COM/x'))).toBe('example.com:80');
    expect(hostPortOf(new URL('https://example.com/x'))).toBe('example.com:443');
    expect(hostPortOf(new URL('http://127.0.0.1:8080/'))).toBe('127.0.0.1:8080');
    expect(hostPortOf(new URL('http://[0:0::1]:9000/'))).toBe('[::1]:9000');
  });

  it('normalises entries and rejects malformed ones', () => {
    expect(normalizeAllowEntry('LocalHost:3000')).toBe('localhost:3000');
    expect(normalizeAllowEntry(' 127.0.0.1:80 ')).toBe('127.0.0.1:80');
    expect(normalizeAllowEntry('[::1]:8080')).toBe('[::1]:8080');
    expect(normalizeAllowEntry('127.0.0.1')).toBeNull();
    expect(normalizeAllowEntry('::1:8080')).toBeNull();
    expect(normalizeAllowEntry('host:0')).toBeNull();
    expect(normalizeAllowEntry('host:70000')).toBeNull();
  });

  it('exempts only the exact host:port pair', () => {
    const list = ['127.0.0.1:8080', 'Images.Local:9000', '[::1]:7000'];
    expect(isAllowListed(new URL('http://127.0.0.1:8080/a.jpg'), list)).toBe(true);
    expect(isAllowListed(new URL('http://127.0.0.1:8081/a.jpg'), list)).toBe(false);
    expect(isAllowListed(new URL('http://127.0.0.1/a.jpg'), list)).toBe(false);
    expect(isAllowListed(new URL('http://localhost:8080/a.jpg'), list)).toBe(false);
    expect(isAllowListed(new URL('http://IMAGES.local:9000/'), list)).toBe(true);
    expect(isAllowListed(new URL('https://images.local:9000/'), list)).toBe(true);
    expect(isAllowListed(new URL('http://images.local/'), list)).toBe(false);
    expect(isAllowListed(new URL('http://[::1]:7000/'), list)).toBe(true);
    expect(isAllowListed(new URL('http://[::1]:7001/'), list)).toBe(false);
    expect(isAllowListed(new URL('http://127.0.0.1:8080/'), [])).toBe(false);
  });

  it('reads host:port as written in the URL text', () => {
    const w = (raw: string) => writtenHostPort(raw, new URL(raw));
    expect(w('http://127.0.0.1:8080/x')).toBe('127.0.0.1:8080');
    expect(w('HTTP://LocalHost:3000')).toBe('localhost:3000');
    expect(w('https://x.com/a?b#c')).toBe('x.com:443');
    expect(w('http://user:pw@127.0.0.1:8080/')).toBe('127.0.0.1:8080');
    expect(w('http://[::1]:7000/')).toBe('[::1]:7000');
    expect(w('http://2130706433:8080/')).toBe('2130706433:8080');
    expect(w('http:\\\\127.0.0.1:8080/')).toBeNull();
  });

  it('exempts only URLs written in the listed form', () => {
    const list = ['127.0.0.1:8080'];
    const listed = (raw: string) => {
      const url = new URL(raw);
      return isAllowListed(url, list, writtenHostPort(raw, url));
    };
    expect(listed('http://127.0.0.1:8080/a.jpg')).toBe(true);
    expect(listed('http://user@127.0.0.1:8080/a.jpg')).toBe(true);
    // Same address, other spellings: not the listed pair as written.
    expect(listed('http://2130706433:8080/a.jpg')).toBe(false);
    expect(listed('http://0177.0.0.1:8080/a.jpg')).toBe(false);
    expect(listed('http://127.1:8080/a.jpg')).toBe(false);
    expect(listed('http://127.0.0.1:08080/a.jpg')).toBe(false);
    // Parser quirks cannot borrow the exemption: WHATWG reads the host as evil.example.
    expect(listed('http://evil.example\\@127.0.0.1:8080/')).toBe(false);
    expect(listed('http:\\\\127.0.0.1:8080/')).toBe(false);
  });
});
