import { Readable } from 'node:stream';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AppError } from '../core/errors.js';
import type { FsSignedUrls } from '../adapters/fs/signed-urls.js';
import type { AppEnv } from './context.js';
import { errorJson, errorResponse } from './errors.js';

const route = createRoute({
  method: 'get',
  path: '/files/{key}',
  tags: ['files'],
  summary: 'Download a result (embedded mode)',
  description:
    'The URLs in `result.video.url`, `result.poster.url` and `result.preview.url` point here. They are signed and expire (FILE_URL_TTL_SECONDS), ' +
    'so a plain GET works without credentials. Supports `Range` (single range) so browsers can seek.',
  request: {
    params: z.object({ key: z.string().openapi({ param: { name: 'key', in: 'path' }, description: 'Storage key, e.g. videos/default/job_x.mp4' }) }),
    query: z.object({ expires: z.string().optional(), sig: z.string().optional() }),
  },
  responses: {
    200: { description: 'The whole file', content: { 'video/mp4': { schema: z.string().openapi({ format: 'binary' }) }, 'image/jpeg': { schema: z.string().openapi({ format: 'binary' }) }, 'image/webp': { schema: z.string().openapi({ format: 'binary' }) }, 'image/gif': { schema: z.string().openapi({ format: 'binary' }) } } },
    206: { description: 'The requested byte range' },
    403: errorResponse('Missing, wrong or expired signature'),
    404: errorResponse('No such file'),
    416: errorResponse('Range not satisfiable'),
  },
});

/** Single byte range from a Range header; undefined for none, 'invalid' when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined | 'invalid' {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // multi-range or junk: serve the whole file, as RFC 9110 allows
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'invalid';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'invalid';
  return { start, end };
}

export function registerFiles(app: OpenAPIHono<AppEnv>, signer: FsSignedUrls) {
  // Keys contain slashes, which an OpenAPI path parameter cannot match: document the
  // route from its schema, and serve it with a wildcard handler.
  app.openAPIRegistry.registerPath(route);
  app.get('/files/*', async (c) => {
    const s = c.get('services');
    const key = decodeURIComponent(c.req.path.slice('/files/'.length));
    const verdict = signer.verify(key, c.req.query('expires'), c.req.query('sig'));
    if (verdict !== 'ok') {
      return c.json({ error: { code: verdict === 'expired' ? 'url_expired' : 'forbidden', message: verdict === 'expired' ? 'This download link has expired; fetch the job again for a fresh one.' : 'Missing or invalid download signature.' } }, 403);
    }
    let info;
    try {
      info = await s.storage.head(key);
    } catch {
      info = undefined;
    }
    if (!info) return errorJson(c, new AppError('not_found', 'No such file.'));
    const range = parseRange(c.req.header('range'), info.bytes);
    const headers: Record<string, string> = {
      'content-type': info.contentType,
      'accept-ranges': 'bytes',
      'cache-control': 'private, max-age=3600',
    };
    if (range === 'invalid') {
      return new Response(JSON.stringify({ error: { code: 'range_not_satisfiable', message: `The file has ${info.bytes} bytes.` } }), {
        status: 416,
        headers: { 'content-type': 'application/json', 'content-range': `bytes */${info.bytes}` },
      });
    }
    if (c.req.method === 'HEAD') {
      return new Response(null, { status: 200, headers: { ...headers, 'content-length': String(info.bytes) } });
    }
    const stream = await s.storage.read(key, range);
    const body = Readable.toWeb(stream) as ReadableStream;
    if (!range) return new Response(body, { status: 200, headers: { ...headers, 'content-length': String(info.bytes) } });
    return new Response(body, {
      status: 206,
      headers: { ...headers, 'content-length': String(range.end - range.start + 1), 'content-range': `bytes ${range.start}-${range.end}/${info.bytes}` },
    });
  });
}
