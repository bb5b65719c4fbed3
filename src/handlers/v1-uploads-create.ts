import fs from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AppError, toAppError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { ACCEPTED_TYPES_TEXT, inspectImage } from '../pipeline/intake/inspect-image.js';
import { ACCEPTED_MUSIC_TEXT, inspectMusic, musicTypeOf } from '../pipeline/intake/music.js';
import { isMultipart, receiveToFile, type ReceiveResult } from '../pipeline/uploads/receive.js';
import { MIME_BY_TYPE, saveUpload, type UploadRecord } from '../pipeline/uploads/store.js';
import type { AppEnv } from './context.js';
import { errorJson, errorResponse } from './errors.js';

/** Room for the multipart framing (boundaries, part headers, small fields) on top of the file itself. */
const MULTIPART_SLACK_BYTES = 1024 * 1024;

export const UploadSchema = z
  .object({
    id: z.string().openapi({ example: 'upl_01jdx5v6m8q3c2r1t0e9w8y7x6', description: 'Use it in a job as `{ "upload": "<id>" }`.' }),
    bytes: z.number().int(),
    type: z.enum(['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff', 'heic', 'mp3', 'wav', 'm4a', 'aac']).openapi({ description: 'Detected from the content, never from the name or Content-Type. Photos: jpeg ... heic; music: mp3, wav, m4a, aac.' }),
    width: z.number().int().nullable().openapi({ description: 'Pixel width after EXIF orientation; null for music.' }),
    height: z.number().int().nullable(),
    durationMs: z.number().int().optional().openapi({ description: 'Music only: its length.' }),
  })
  .openapi('Upload');

const route = createRoute({
  method: 'post',
  path: '/v1/uploads',
  tags: ['uploads'],
  summary: 'Upload a photo (up to 200 MB) or a music file (up to 50 MB) to use in jobs',
  description:
    'Send the photo as `multipart/form-data` with one file part (any field name), or as the raw request body with any content type. ' +
    'The body is streamed to storage and checked like a fetched photo: the type is detected from the content ' +
    `(accepted: ${ACCEPTED_TYPES_TEXT}), the pixel count is limited (MAX_IMAGE_PIXELS) and the photo must decode. ` +
    'Bodies over the size limit (MAX_IMAGE_BYTES, 200 MB) are cut off with 413 `file_too_large`, whatever Content-Length says. ' +
    'The upload belongs to the caller\'s tenant; use its id in `POST /v1/jobs` as `{ "upload": "<id>" }`. ' +
    `Music (${ACCEPTED_MUSIC_TEXT}) is recognised the same way, held to MAX_MUSIC_BYTES (50 MB, \`music_too_large\`) and probed ` +
    '(`music_unreadable`, `music_too_long`); use it as `"music": { "upload": "<id>" }`.',
  request: {
    body: {
      required: true,
      content: {
        'multipart/form-data': { schema: z.object({ file: z.string().openapi({ type: 'string', format: 'binary' }) }) },
        'application/octet-stream': { schema: z.string().openapi({ type: 'string', format: 'binary' }) },
      },
    },
  },
  responses: {
    201: { description: 'Stored and checked', content: { 'application/json': { schema: UploadSchema } } },
    400: errorResponse('No file in a multipart body, more than one, or the body was cut short (`validation_error`)'),
    413: errorResponse('Larger than the limit (`file_too_large`; music over MAX_MUSIC_BYTES: `music_too_large`)'),
    415: errorResponse('Not an accepted image or music type (`unsupported_type`, lists what is accepted)'),
    422: errorResponse('Damaged (`image_corrupt`) or too many pixels (`image_too_many_pixels`); music that cannot be read (`music_unreadable`) or is over 30 minutes (`music_too_long`)'),
  },
});

/** The request body as a Node stream: the raw IncomingMessage under @hono/node-server, else the web stream. */
function requestBody(c: Context<AppEnv>): Readable | null {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming && typeof incoming.pipe === 'function') return incoming;
  const web = c.req.raw.body;
  return web ? Readable.fromWeb(web as unknown as WebReadableStream) : null;
}

export function registerCreateUpload(app: OpenAPIHono<AppEnv>) {
  // Documented through the registry, handled by a plain route: the generated validator would
  // read a multipart body whole into memory.
  app.openAPIRegistry.registerPath(route);
  app.post('/v1/uploads', async (c) => {
    const s = c.get('services');
    const tenant = c.get('tenant');
    const maxBytes = s.config.MAX_IMAGE_BYTES;
    const contentType = c.req.header('content-type') ?? '';
    const multipart = isMultipart(contentType);

    const fail = (err: AppError) => {
      // The rest of the body is not read: the connection cannot be reused.
      if (err.code === 'file_too_large' || err.code === 'validation_error') c.header('connection', 'close');
      return errorJson(c, err);
    };

    const declared = c.req.header('content-length');
    if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes + (multipart ? MULTIPART_SLACK_BYTES : 0)) {
      return fail(new AppError('file_too_large', `the file is larger than the ${maxBytes}-byte limit (Content-Length: ${declared})`));
    }
    const body = requestBody(c);
    if (!body) return fail(new AppError('validation_error', 'send the photo as the request body (raw or multipart/form-data)', { field: 'body' }));

    const id = newId('upl');
    // Under work/, which the server empties at start: nothing is left behind by a crash.
    const dir = path.join(s.config.dataDir, 'work', 'uploads');
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, id);
    let decoded: string | null = null;
    try {
      const received = await receiveToFile(body, { contentType, maxBytes, dest: file });
      const musicType = await musicTypeOf(file);
      if (musicType) return c.json(await storeMusic(c, file, id, received), 201);
      const info = await inspectImage(file, { maxPixels: s.config.MAX_IMAGE_PIXELS });
      if (info.path !== file) decoded = info.path;
      const record = await storeUpload(c, file, { id, tenant, bytes: received.bytes, type: info.type, width: info.width, height: info.height, filename: received.filename });
      return c.json({ id, bytes: record.bytes, type: record.type, width: record.width, height: record.height }, 201);
    } catch (err) {
      const e = toAppError(err);
      if (e.code === 'internal_error') throw err;
      return fail(e);
    } finally {
      await fs.rm(file, { force: true }).catch(() => undefined);
      if (decoded) await fs.rm(decoded, { force: true }).catch(() => undefined);
    }
  });
}

/** A music upload: the music limit (tighter than the streaming cap), then the same checks as fetched music. */
async function storeMusic(c: Context<AppEnv>, file: string, id: string, received: ReceiveResult) {
  const s = c.get('services');
  const tenant = c.get('tenant');
  const max = s.config.MAX_MUSIC_BYTES;
  if (received.bytes > max) throw new AppError('music_too_large', `the music file is larger than the ${max}-byte limit (MAX_MUSIC_BYTES)`);
  const info = await inspectMusic(file, { ffmpegPath: s.config.FFMPEG_PATH, ffprobePath: s.config.FFPROBE_PATH });
  const record = await storeUpload(c, file, { id, tenant, bytes: received.bytes, type: info.type, width: null, height: null, durationMs: info.durationMs, filename: received.filename });
  return { id, bytes: record.bytes, type: record.type as z.infer<typeof UploadSchema>['type'], width: null, height: null, durationMs: info.durationMs };
}

/** Saves the upload's bytes and its record (photo or music alike) and logs it. */
async function storeUpload(c: Context<AppEnv>, file: string, fields: Omit<UploadRecord, 'contentType' | 'createdAt'>): Promise<UploadRecord> {
  const s = c.get('services');
  const record: UploadRecord = { ...fields, contentType: MIME_BY_TYPE[fields.type] ?? 'application/octet-stream', createdAt: new Date().toISOString() };
  await saveUpload(s.storage, record, file);
  s.logger.info({ uploadId: record.id, tenant: record.tenant, bytes: record.bytes, type: record.type, requestId: c.get('requestId') }, 'upload stored');
  return record;
}
