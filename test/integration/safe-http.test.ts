import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure } from '../helpers/assertions.js';
import { safeRequest, type NetPolicy } from '../../src/pipeline/net/safe-http.js';

let server: http.Server;
let port = 0;
let other: http.Server; // a second loopback server that is NOT on the allow-list
let otherPort = 0;
let silent: net.Server; // accepts TCP and never says a word
let silentPort = 0;
const sockets = new Set<net.Socket>();

const base = () => `http://127.0.0.1:${port}`;
const policy = (over: Partial<NetPolicy> = {}): NetPolicy => ({
  allowHosts: [`127.0.0.1:${port}`],
  connectTimeoutMs: 2000,
  idleTimeoutMs: 2000,
  totalTimeoutMs: 10_000,
  ...over,
});

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const p = url.pathname;
  if (p === '/ok') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
  } else if (p === '/echo') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, headers: req.headers, body }));
    });
  } else if (p === '/redirect') {
    res.writeHead(302, { location: `${base()}/ok` }).end();
  } else if (p === '/relative') {
    res.writeHead(301, { location: 'ok' }).end();
  } else if (p.startsWith('/status/')) {
    const code = Number(p.slice('/status/'.length));
    res.writeHead(code, { location: '/echo' }).end();
  } else if (p.startsWith('/chain/')) {
    const n = Number(p.slice('/chain/'.length));
    if (n === 0) res.writeHead(200).end('end of chain');
    else res.writeHead(302, { location: `/chain/${n - 1}` }).end();
  } else if (p === '/to-other') {
    res.writeHead(302, { location: `http://127.0.0.1:${otherPort}/ok` }).end();
  } else if (p === '/to-localhost') {
    res.writeHead(307, { location: `http://localhost:${port}/ok` }).end();
  } else if (p === '/to-metadata') {
    res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
  } else if (p === '/to-file') {
    res.writeHead(302, { location: 'file:///etc/passwd' }).end();
  } else if (p === '/no-response') {
    // Headers never come: idle timeout.
  } else if (p === '/drip') {
    // One byte, then silence longer than the idle timeout.
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write('x');
  } else if (p === '/trickle') {
    // A byte every 50 ms forever: never idle, but never done.
    res.writeHead(200);
    const t = setInterval(() => res.write('y'), 50);
    res.on('close', () => clearInterval(t));
  } else if (p === '/reset') {
    req.socket.destroy();
  } else {
    res.writeHead(404).end('not found');
  }
}

async function listen(s: net.Server): Promise<number> {
  s.on('connection', (c: net.Socket) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
}

beforeAll(async () => {
  server = http.createServer(handler);
  port = await listen(server);
  other = http.createServer((_req, res) => res.end('other'));
  otherPort = await listen(other);
  silent = net.createServer(() => undefined);
  silentPort = await listen(silent);
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([server, other, silent].map((s) => new Promise((r) => s.close(r))));
});


describe('safeRequest: allowed requests', () => {
  it('GETs from an allow-listed loopback host:port', async () => {
    const res = await safeRequest(`${base()}/ok`, { policy: policy(), followRedirects: true });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain');
    expect(await text(res.body)).toBe('hello');
    expect(res.url).toBe(`${base()}/ok`);
  });

  it('POSTs a JSON body with headers and Content-Length', async () => {
    const body = JSON.stringify({ hello: 'world' });
    const res = await safeRequest(`${base()}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1' },
      body,
      policy: policy(),
      followRedirects: false,
    });
    const echo = JSON.parse(await text(res.body)) as { method: string; headers: Record<string, string>; body: string };
    expect(echo.method).toBe('POST');
    expect(echo.body).toBe(body);
    expect(echo.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(echo.headers['webhook-id']).toBe('msg_1');
  });

  it('follows an absolute redirect and reports the final URL', async () => {
    const res = await safeRequest(`${base()}/redirect`, { policy: policy(), followRedirects: true });
    expect(res.status).toBe(200);
    expect(await text(res.body)).toBe('hello');
    expect(res.url).toBe(`${base()}/ok`);
  });

  it('follows a relative Location', async () => {
    const res = await safeRequest(`${base()}/relative`, { policy: policy(), followRedirects: true });
    expect(await text(res.body)).toBe('hello');
    expect(res.url).toBe(`${base()}/ok`);
  });

  it('returns the redirect itself when followRedirects is false', async () => {
    const res = await safeRequest(`${base()}/redirect`, { policy: policy(), followRedirects: false });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`${base()}/ok`);
    res.body.resume();
  });

  it('turns a POST into a GET on 303 and keeps POST on 307/308', async () => {
    for (const [code, method, body] of [
      [303, 'GET', ''],
      [302, 'GET', ''],
      [307, 'POST', 'payload'],
      [308, 'POST', 'payload'],
    ] as const) {
      const res = await safeRequest(`${base()}/status/${code}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'payload',
        policy: policy(),
        followRedirects: true,
      });
      const echo = JSON.parse(await text(res.body)) as { method: string; body: string };
      expect({ code, method: echo.method, body: echo.body }).toEqual({ code, method, body });
    }
  });

  it('follows exactly 5 redirects', async () => {
    const res = await safeRequest(`${base()}/chain/5`, { policy: policy(), followRedirects: true });
    expect(res.status).toBe(200);
    expect(await text(res.body)).toBe('end of chain');
  });

  it('returns non-2xx statuses to the caller', async () => {
    const res = await safeRequest(`${base()}/missing`, { policy: policy(), followRedirects: true });
    expect(res.status).toBe(404);
    res.body.resume();
  });
});

describe('safeRequest: refused destinations', () => {
  it('refuses a chain of 6 redirects', async () => {
    const err = await failure(safeRequest(`${base()}/chain/6`, { policy: policy(), followRedirects: true }));
    expect(err.code).toBe('fetch_failed');
    expect(err.message).toMatch(/too many redirects/);
  });

  it('honours a smaller maxRedirects', async () => {
    const err = await failure(safeRequest(`${base()}/chain/2`, { policy: policy({ maxRedirects: 1 }), followRedirects: true }));
    expect(err.message).toMatch(/too many redirects/);
  });

  it('refuses loopback when it is not allow-listed', async () => {
    const err = await failure(safeRequest(`${base()}/ok`, { policy: policy({ allowHosts: [] }), followRedirects: true }));
    expect(err.code).toBe('url_not_allowed');
    expect(err.message).toMatch(/127\.0\.0\.1 is a private address: loopback/);
  });

  it('refuses a redirect from an allow-listed host to another loopback port', async () => {
    const err = await failure(safeRequest(`${base()}/to-other`, { policy: policy(), followRedirects: true }));
    expect(err.code).toBe('url_not_allowed');
    expect(err.message).toMatch(/private address/);
  });

  it('checks hostnames after DNS: localhost resolves to loopback (also as a redirect target)', async () => {
    const direct = await failure(safeRequest(`http://localhost:${port}/ok`, { policy: policy(), followRedirects: true }));
    expect(direct.code).toBe('url_not_allowed');
    expect(direct.message).toMatch(/host localhost resolves to a private address \((127\.0\.0\.1|::1)\)/);
    const redirected = await failure(safeRequest(`${base()}/to-localhost`, { policy: policy(), followRedirects: true }));
    expect(redirected.code).toBe('url_not_allowed');
    expect(redirected.message).toMatch(/localhost resolves to a private address/);
  });

  it('lets an allow-listed hostname through to its loopback address', async () => {
    const res = await safeRequest(`http://localhost:${port}/ok`, {
      policy: policy({ allowHosts: [`LOCALHOST:${port}`] }),
      followRedirects: true,
    });
    expect(await text(res.body)).toBe('hello');
  });

  it('refuses a redirect to the cloud metadata address and to file:', async () => {
    const meta = await failure(safeRequest(`${base()}/to-metadata`, { policy: policy(), followRedirects: true }));
    expect(meta.code).toBe('url_not_allowed');
    expect(meta.message).toMatch(/169\.254\.169\.254 is a private address: link-local/);
    const file = await failure(safeRequest(`${base()}/to-file`, { policy: policy(), followRedirects: true }));
    expect(file.code).toBe('url_not_allowed');
    expect(file.message).toMatch(/scheme "file"/);
  });

  it.each([
    ['decimal', () => `http://2130706433:${port}/ok`, /127\.0\.0\.1 is a private address: loopback/],
    ['octal', () => `http://0177.0.0.1:${port}/ok`, /127\.0\.0\.1 is a private address: loopback/],
    ['hex', () => `http://0x7f.0.0.1:${port}/ok`, /127\.0\.0\.1 is a private address: loopback/],
    ['short', () => `http://127.1:${port}/ok`, /127\.0\.0\.1 is a private address: loopback/],
    ['IPv6 loopback', () => `http://[::1]:${port}/ok`, /\[::1\] is a private address: loopback/],
    ['IPv4-mapped', () => `http://[::ffff:127.0.0.1]:${port}/ok`, /IPv4-mapped form of 127\.0\.0\.1 \(loopback\)/],
    ['IPv4-compatible', () => `http://[::127.0.0.1]:${port}/ok`, /IPv4-compatible form of 127\.0\.0\.1/],
    ['metadata', () => 'http://169.254.169.254/latest/meta-data/', /link-local/],
    ['unspecified', () => `http://0.0.0.0:${port}/ok`, /0\.0\.0\.0 is a private address: unspecified/],
    ['private', () => 'http://10.0.0.1/', /private address: private/],
  ])('refuses the %s spelling before connecting', async (_name, url, message) => {
    // The allow-list holds 127.0.0.1:<port> as written; other spellings do not borrow it.
    const err = await failure(safeRequest(url(), { policy: policy(), followRedirects: true }));
    expect(err.code).toBe('url_not_allowed');
    expect(err.message).toMatch(message);
  });

  it.each([
    ['file:///etc/passwd', 'file'],
    ['ftp://example.com/a.jpg', 'ftp'],
    ['data:image/png;base64,iVBORw0KGgo=', 'data'],
    ['javascript:alert(1)', 'javascript'],
  ])('refuses the scheme of %s', async (url, scheme) => {
    const err = await failure(safeRequest(url, { policy: policy(), followRedirects: true }));
    expect(err.code).toBe('url_not_allowed');
    expect(err.message).toContain(`scheme "${scheme}"`);
  });

  it('refuses text that is not a URL', async () => {
    const err = await failure(safeRequest('not a url', { policy: policy(), followRedirects: true }));
    expect(err.code).toBe('url_not_allowed');
  });
});

describe('safeRequest: network failures and timeouts', () => {
  it('reports connection refused', async () => {
    const closed = http.createServer();
    const closedPort = await listen(closed);
    await new Promise((r) => closed.close(r));
    const err = await failure(
      safeRequest(`http://127.0.0.1:${closedPort}/`, { policy: policy({ allowHosts: [`127.0.0.1:${closedPort}`] }), followRedirects: true }),
    );
    expect(err.code).toBe('fetch_failed');
    expect(err.message).toMatch(/connection refused/);
  });

  it('reports a connection closed without a response', async () => {
    const err = await failure(safeRequest(`${base()}/reset`, { policy: policy(), followRedirects: true }));
    expect(err.code).toBe('fetch_failed');
    expect(err.message).toMatch(/closed before a response|reset/);
  });

  it('reports DNS failures', async () => {
    const err = await failure(
      safeRequest('http://no-such-host.invalid/', { policy: policy({ allowHosts: ['no-such-host.invalid:80'] }), followRedirects: true }),
    );
    expect(err.code).toBe('fetch_failed');
    expect(err.message).toMatch(/DNS lookup failed for no-such-host\.invalid/);
  });

  it('times out the connect phase (TLS handshake never answered)', async () => {
    const started = Date.now();
    const err = await failure(
      safeRequest(`https://127.0.0.1:${silentPort}/`, {
        policy: policy({ allowHosts: [`127.0.0.1:${silentPort}`], connectTimeoutMs: 200, idleTimeoutMs: 5000 }),
        followRedirects: true,
      }),
    );
    expect(err.code).toBe('fetch_timeout');
    expect(err.message).toMatch(/connecting to 127\.0\.0\.1:\d+ timed out after 200 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('times out when no response headers come (idle)', async () => {
    const err = await failure(safeRequest(`${base()}/no-response`, { policy: policy({ idleTimeoutMs: 200 }), followRedirects: true }));
    expect(err.code).toBe('fetch_timeout');
    expect(err.message).toMatch(/no data from 127\.0\.0\.1:\d+ for 200 ms/);
  });

  it('errors the body when bytes stop coming (idle)', async () => {
    const res = await safeRequest(`${base()}/drip`, { policy: policy({ idleTimeoutMs: 200 }), followRedirects: true });
    expect(res.status).toBe(200);
    const err = await failure(text(res.body));
    expect(err.code).toBe('fetch_timeout');
    expect(err.message).toMatch(/no data .* for 200 ms/);
    expect(res.body.destroyed).toBe(true);
  });

  it('enforces the total timeout on a body that never ends', async () => {
    const started = Date.now();
    const res = await safeRequest(`${base()}/trickle`, {
      policy: policy({ idleTimeoutMs: 1000, totalTimeoutMs: 400 }),
      followRedirects: true,
    });
    const err = await failure(text(res.body));
    expect(err.code).toBe('fetch_timeout');
    expect(err.message).toMatch(/not complete after 400 ms/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('aborts via the signal, before and during the request', async () => {
    const pre = new AbortController();
    pre.abort();
    await expect(safeRequest(`${base()}/ok`, { policy: policy(), followRedirects: true, signal: pre.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });

    const ac = new AbortController();
    const p = safeRequest(`${base()}/no-response`, { policy: policy(), followRedirects: true, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });
});
