import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupAddress, LookupOptions } from 'node:dns';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { AppError } from '../../core/errors.js';
import { checkAddress, isAllowListed, writtenHostPort } from './address-policy.js';

/**
 * Outbound HTTP(S) that cannot be pointed at our own network (SSRF-safe), for image fetching
 * and webhooks alike. Built on node:http/https rather than fetch so the address check happens
 * at connect time:
 *
 * - IP-literal hosts (any spelling: the WHATWG URL parser turns 2130706433, 0177.0.0.1 and
 *   0x7f.1 into 127.0.0.1) are checked before connecting;
 * - hostnames are resolved by our own `lookup`, which checks every address DNS returns and
 *   hands exactly those checked addresses to the socket (no second resolution, so no
 *   DNS-rebinding window);
 * - the socket's remoteAddress is checked again once connected;
 * - every redirect hop goes through all of the above.
 *
 * An allow-listed `host:port` (as written in the URL) skips the address checks for that
 * hop only. Abort via `signal` rejects (or errors the body) with an AbortError.
 */

export interface NetPolicy {
  /** Exact `host:port` pairs exempt from the address checks (config FETCH_ALLOW_HOSTS). */
  allowHosts: string[];
  /** DNS + TCP (+ TLS) handshake, per hop. */
  connectTimeoutMs: number;
  /** Longest silence on the socket: waiting for headers, or between body bytes. */
  idleTimeoutMs: number;
  /** Whole exchange: all hops, headers and body, until the body ends. */
  totalTimeoutMs: number;
  /** Redirects followed at most (default 5). */
  maxRedirects?: number;
}

export interface SafeRequestOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer;
  policy: NetPolicy;
  followRedirects: boolean;
  signal?: AbortSignal;
}

export interface SafeResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The response body. Errors with an AppError (fetch_timeout/fetch_failed) or AbortError if cut short. */
  body: Readable;
  /** The final URL, after redirects. */
  url: string;
}

export const DEFAULT_MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  return new DOMException('The operation was aborted', 'AbortError');
}

/** Parses and vets a URL's scheme. */
export function parseHttpUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppError('url_not_allowed', 'URL not allowed: it is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AppError('url_not_allowed', `URL not allowed: scheme "${url.protocol.replace(/:$/, '')}" is not supported (only http and https)`);
  }
  if (url.hostname === '') throw new AppError('url_not_allowed', 'URL not allowed: it has no host');
  return url;
}

function privateAddressError(host: string, address: string, reason: string, literal: boolean): AppError {
  const what = literal ? `host ${host} is a private address` : `host ${host} resolves to a private address (${address})`;
  return new AppError('url_not_allowed', `URL not allowed: ${what}: ${reason}`);
}

/** Bare host for the socket / DNS: brackets stripped from IPv6. */
function bareHost(url: URL): string {
  const h = url.hostname;
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

function isIpLiteral(url: URL): boolean {
  // After WHATWG parsing an IP host is either dotted-quad IPv4 or bracketed IPv6.
  return url.hostname.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(url.hostname);
}

function describeNetError(err: NodeJS.ErrnoException, url: URL): AppError {
  const where = url.host;
  const code = err.code ?? '';
  let msg: string;
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NODATA':
    case 'EAI_NONAME':
      msg = `DNS lookup failed for ${url.hostname} (${code})`;
      break;
    case 'ECONNREFUSED':
      msg = `connection refused by ${where}`;
      break;
    case 'ECONNRESET':
      msg = `connection reset by ${where}`;
      break;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      msg = `${where} is unreachable (${code})`;
      break;
    case 'EPIPE':
      msg = `connection to ${where} closed while sending (EPIPE)`;
      break;
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_HEADER_OVERFLOW':
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      msg = `invalid HTTP response from ${where} (${code})`;
      break;
    default:
      if (err.message === 'socket hang up') msg = `connection to ${where} closed before a response`;
      else if (err.message === 'aborted') msg = `connection to ${where} closed mid-response`;
      else if (/certificate|ssl|tls|CERT_|ERR_TLS/i.test(`${code} ${err.message}`)) msg = `TLS error with ${where}: ${err.message}`;
      else msg = `request to ${where} failed: ${err.message}${code ? ` (${code})` : ''}`;
  }
  return new AppError('fetch_failed', msg, { retryable: true, cause: err });
}

/** host:port as written for a redirect target (null: not written plainly, so never allow-listed). */
function redirectWrittenHostPort(location: string, next: URL, current: URL, currentWritten: string | null): string | null {
  const loc = location.replace(/^[\u0000-\u0020]+/, '');
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(loc)) return writtenHostPort(loc, next); // absolute
  if (/^[\\/]{2}/.test(loc)) return writtenHostPort(`${next.protocol}${loc}`, next); // scheme-relative
  // Path-relative: same authority as the current hop, as it was written there.
  return next.host === current.host && next.protocol === current.protocol ? currentWritten : null;
}

interface Hop {
  url: URL;
  /** host:port as written in the URL text that led here (see writtenHostPort). */
  written: string | null;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

/**
 * One HTTP(S) request with SSRF checks, timeouts and (optionally) redirects.
 * Resolves once response headers arrive; the caller must consume or destroy `body`.
 */
export function safeRequest(rawUrl: string, opts: SafeRequestOptions): Promise<SafeResponse> {
  const { policy, signal } = opts;
  const maxRedirects = policy.maxRedirects ?? DEFAULT_MAX_REDIRECTS;

  return new Promise<SafeResponse>((resolve, reject) => {
    let settled = false;
    let req: http.ClientRequest | null = null;
    let res: http.IncomingMessage | null = null;
    let totalTimer: NodeJS.Timeout | null = null;
    let finished = false;

    const cleanup = () => {
      finished = true;
      if (totalTimer) clearTimeout(totalTimer);
      totalTimer = null;
      signal?.removeEventListener('abort', onAbort);
    };

    /** Fails whatever is in flight: the pending promise, or the body already handed out. */
    const fail = (err: Error) => {
      if (finished) return;
      if (!settled) {
        settled = true;
        cleanup();
        req?.destroy();
        res?.destroy();
        reject(err);
      } else {
        cleanup();
        // The caller owns the body now: error it, which also tears down the socket.
        res?.destroy(err);
        req?.destroy();
      }
    };

    const onAbort = () => fail(abortError(signal!));

    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    totalTimer = setTimeout(
      () => fail(new AppError('fetch_timeout', `request timed out: not complete after ${policy.totalTimeoutMs} ms`, { retryable: true })),
      policy.totalTimeoutMs,
    );

    let first: URL;
    try {
      first = parseHttpUrl(rawUrl);
    } catch (err) {
      fail(err as Error);
      return;
    }

    const initialHeaders: Record<string, string> = { ...(opts.headers ?? {}) };
    start({ url: first, written: writtenHostPort(rawUrl, first), method: opts.method ?? 'GET', headers: initialHeaders, body: opts.body }, 0);

    function start(hop: Hop, redirects: number): void {
      if (finished) return;
      const { url } = hop;
      const host = bareHost(url);
      const allowListed = isAllowListed(url, policy.allowHosts, hop.written);

      if (!allowListed && isIpLiteral(url)) {
        const v = checkAddress(host);
        if (!v.allowed) return fail(privateAddressError(url.hostname, host, v.reason, true));
      }

      /** Resolves with the system resolver, refuses if ANY address is private, returns exactly the checked ones. */
      const lookup = (
        hostname: string,
        options: LookupOptions,
        callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
      ): void => {
        dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
          if (err) return callback(err, options.all ? [] : '', 0);
          if (addresses.length === 0) {
            const e: NodeJS.ErrnoException = new Error(`no addresses for ${hostname}`);
            e.code = 'ENOTFOUND';
            return callback(e, options.all ? [] : '', 0);
          }
          if (!allowListed) {
            for (const a of addresses) {
              const v = checkAddress(a.address);
              if (!v.allowed) return callback(privateAddressError(hostname, a.address, v.reason, false), options.all ? [] : '', 0);
            }
          }
          if (options.all) callback(null, addresses);
          else callback(null, addresses[0]!.address, addresses[0]!.family);
        });
      };

      const headers: Record<string, string> = { ...hop.headers };
      if (hop.body !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) {
        headers['Content-Length'] = String(Buffer.byteLength(hop.body));
      }

      const mod = url.protocol === 'https:' ? https : http;
      let r: http.ClientRequest;
      try {
        r = mod.request(url, { method: hop.method, headers, agent: false, lookup: lookup as never });
      } catch (err) {
        return fail(err instanceof AppError ? err : new AppError('fetch_failed', `request to ${url.host} failed: ${(err as Error).message}`, { cause: err }));
      }
      req = r;

      const connectTimer = setTimeout(() => {
        fail(new AppError('fetch_timeout', `connecting to ${url.host} timed out after ${policy.connectTimeoutMs} ms`, { retryable: true }));
      }, policy.connectTimeoutMs);
      const clearConnect = () => clearTimeout(connectTimer);
      r.once('close', clearConnect);

      r.on('error', (err: NodeJS.ErrnoException) => {
        clearConnect();
        if (req !== r) return; // an earlier hop, already replaced
        fail(err instanceof AppError ? err : describeNetError(err, url));
      });

      r.once('socket', (socket: Socket) => {
        const onConnected = () => {
          clearConnect();
          socket.setTimeout(policy.idleTimeoutMs);
        };
        socket.once('connect', () => {
          // Defence in depth: whatever the resolver did, check the peer we actually reached.
          if (!allowListed) {
            const remote = socket.remoteAddress;
            const v = remote === undefined ? null : checkAddress(remote);
            if (!v || !v.allowed) {
              return fail(privateAddressError(url.hostname, remote ?? 'unknown', v && !v.allowed ? v.reason : 'no peer address', isIpLiteral(url)));
            }
          }
          if (url.protocol === 'http:') onConnected();
        });
        if (url.protocol === 'https:') socket.once('secureConnect', onConnected);
        socket.on('timeout', () => {
          fail(new AppError('fetch_timeout', `no data from ${url.host} for ${policy.idleTimeoutMs} ms`, { retryable: true }));
        });
      });

      r.once('response', (response) => {
        clearConnect();
        if (finished) {
          response.destroy();
          return;
        }
        res = response;
        const status = response.statusCode ?? 0;
        const location = response.headers.location;

        if (opts.followRedirects && REDIRECT_STATUSES.has(status) && location) {
          response.resume();
          response.destroy();
          if (redirects >= maxRedirects) {
            return fail(new AppError('fetch_failed', `too many redirects (more than ${maxRedirects})`));
          }
          let next: URL;
          let written: string | null;
          try {
            next = parseHttpUrl(new URL(location, url).toString());
            written = redirectWrittenHostPort(location, next, url, hop.written);
          } catch (err) {
            return fail(err instanceof AppError
              ? new AppError(err.code, `${err.message} (redirect target)`)
              : new AppError('fetch_failed', 'invalid redirect Location'));
          }
          // 303 always, and 301/302 for POST (as browsers do), continue as a bodiless GET.
          const toGet = status === 303 || ((status === 301 || status === 302) && hop.method === 'POST');
          const nextHeaders: Record<string, string> = {};
          for (const [k, v] of Object.entries(hop.headers)) {
            const lk = k.toLowerCase();
            if (toGet && (lk === 'content-type' || lk === 'content-length')) continue;
            if (next.origin !== url.origin && (lk === 'authorization' || lk === 'cookie')) continue;
            nextHeaders[k] = v;
          }
          res = null;
          return start(
            { url: next, written, method: toGet ? 'GET' : hop.method, headers: nextHeaders, body: toGet ? undefined : hop.body },
            redirects + 1,
          );
        }

        settled = true;
        response.once('close', cleanup);
        response.once('end', cleanup);
        response.once('error', cleanup);
        resolve({ status, headers: response.headers, body: response, url: url.toString() });
      });

      if (hop.body !== undefined) r.end(hop.body);
      else r.end();
    }
  });
}
