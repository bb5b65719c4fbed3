import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveUpload } from '../../src/pipeline/uploads/store.js';
import { api, isFinal, startService, waitForJob } from '../helpers/servers.js';
import { canMakeHeic, makeHeic, orientedJpeg, PDF_BYTES, pngBomb, quadrantPixels } from '../helpers/intake-fixtures.js';

/**
 * POST /v1/uploads on the real server: raw and multipart bodies streamed to storage, the
 * 200 MB cap enforced while streaming (no, or a lying, Content-Length), content checks,
 * and jobs that use `{ "upload": id }` (the tenant's own uploads only).
 */
let svc: Awaited<ReturnType<typeof startService>>;
let jpeg: Buffer;

beforeAll(async () => {
  svc = await startService({ X264_PRESET: 'superfast' });
  jpeg = await sharp(quadrantPixels(640, 360), { raw: { width: 640, height: 360, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
});
afterAll(async () => svc?.stop());

const MB = 1024 * 1024;

interface SendResult {
  status: number;
  json: any;
  /** Body bytes the client managed to hand to the socket before the answer came. */
  sent: number;
}

/**
 * Streams a generated body of `total` bytes (after `prefix`, before `suffix`) with http.request,
 * never holding it in memory; stops writing as soon as the response arrives.
 */
function sendGenerated(opts: { total: number; headers: Record<string, string>; prefix?: Buffer; suffix?: Buffer }): Promise<SendResult> {
  return new Promise<SendResult>((resolve, reject) => {
    const u = new URL(`${svc.url}/v1/uploads`);
    const req = http.request({ method: 'POST', hostname: u.hostname, port: u.port, path: u.pathname, headers: opts.headers });
    let sent = 0;
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined, sent });
        req.destroy();
      });
      res.on('error', reject);
    });
    req.on('error', (err) => !answered && reject(err));
    const chunk = Buffer.alloc(MB, 0xab);
    if (opts.prefix) req.write(opts.prefix);
    const pump = () => {
      while (!answered && sent < opts.total) {
        const n = Math.min(chunk.length, opts.total - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      if (!answered) req.end(opts.suffix);
    };
    pump();
  });
}

async function uploadRaw(body: Buffer, contentType = 'application/octet-stream') {
  const res = await fetch(`${svc.url}/v1/uploads`, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': contentType } });
  return { status: res.status, json: (await res.json()) as any };
}

/** Writes raw HTTP on a socket (for framing lies the HTTP clients refuse to send); returns the first response's text. */
function rawHttp(data: Buffer): Promise<string> {
  const u = new URL(svc.url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname, () => sock.end(data));
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
    sock.on('error', () => resolve(text));
    sock.on('close', () => resolve(text));
    setTimeout(() => reject(new Error('no answer')), 10_000).unref();
  });
}

async function uploadMultipart(parts: { name: string; filename?: string; body: Buffer | string; type?: string }[]) {
  const form = new FormData();
  for (const p of parts) {
    if (p.filename) form.append(p.name, new Blob([typeof p.body === "string" ? p.body : new Uint8Array(p.body)], { type: p.type ?? 'application/octet-stream' }), p.filename);
    else form.append(p.name, String(p.body));
  }
  const res = await fetch(`${svc.url}/v1/uploads`, { method: 'POST', body: form });
  return { status: res.status, json: (await res.json()) as any };
}

const workUploads = () => path.join(svc.dataDir, 'work', 'uploads');
const leftovers = () => (fs.existsSync(workUploads()) ? fs.readdirSync(workUploads()) : []);

describe('POST /v1/uploads: accepted photos', () => {
  it('stores a raw body (type by content, whatever the Content-Type) and answers 201', async () => {
    const res = await uploadRaw(jpeg, 'text/plain');
    expect(res.status).toBe(201);
    expect(res.json).toEqual({ id: expect.stringMatching(/^upl_[0-9a-z]{26}$/), bytes: jpeg.length, type: 'jpeg', width: 640, height: 360 });
    const storage = svc.composition.services.storage;
    expect(await storage.list(`uploads/default/${res.json.id}`)).toEqual([`uploads/default/${res.json.id}`, `uploads/default/${res.json.id}.json`]);
    expect((await storage.head(`uploads/default/${res.json.id}`))?.contentType).toBe('image/jpeg');
    expect(leftovers()).toEqual([]);
  });

  it('stores the file part of a multipart body, ignoring other fields', async () => {
    const png = await sharp(jpeg).png().toBuffer();
    const res = await uploadMultipart([
      { name: 'note', body: 'hello' },
      { name: 'photo', filename: 'shoe.png', body: png, type: 'image/png' },
    ]);
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ bytes: png.length, type: 'png', width: 640, height: 360 });
  });

  it('reports the size after EXIF orientation', async () => {
    const res = await uploadRaw(await orientedJpeg(6, 320, 180));
    expect(res.status).toBe(201);
    expect([res.json.width, res.json.height]).toEqual([320, 180]);
  });

  it('accepts a HEIC (decoded off the main thread to prove it is usable)', async (ctx) => {
    if (!(await canMakeHeic())) return ctx.skip();
    const heic = await makeHeic({ rgb: quadrantPixels(600, 400), width: 600, height: 400, tile: 256 });
    const res = await uploadRaw(heic);
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ type: 'heic', width: 600, height: 400, bytes: heic.length });
    expect(leftovers()).toEqual([]); // the decoded copy is not kept
  });
});

describe('POST /v1/uploads: refused', () => {
  it.each([
    ['a PDF', () => PDF_BYTES, 415, 'unsupported_type'],
    ['zero bytes', () => Buffer.alloc(0), 422, 'image_corrupt'],
    ['a truncated JPEG', () => jpeg.subarray(0, Math.floor(jpeg.length / 2)), 422, 'image_corrupt'],
    ['a 30000x30000 PNG header', () => pngBomb(30_000, 30_000), 422, 'image_too_many_pixels'],
  ] as const)('%s -> %i %s', async (_name, body, status, code) => {
    const res = await uploadRaw(body());
    expect(res.status).toBe(status);
    expect(res.json.error.code).toBe(code);
    if (code === 'unsupported_type') expect(res.json.error.message).toMatch(/JPG, PNG, WEBP, HEIC/);
    expect(leftovers()).toEqual([]);
  });

  it('multipart without a file part -> 400', async () => {
    const res = await uploadMultipart([{ name: 'note', body: 'no file here' }]);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('validation_error');
    expect(res.json.error.message).toMatch(/no file part/);
  });

  it('multipart with two files -> 400', async () => {
    const res = await uploadMultipart([
      { name: 'a', filename: 'a.jpg', body: jpeg },
      { name: 'b', filename: 'b.jpg', body: jpeg },
    ]);
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/exactly one file/);
  });
});

describe('POST /v1/uploads: the 200 MB cap while streaming', () => {
  const total = 250 * MB;
  const cap = 200 * MB;

  it('a 250 MB raw body without Content-Length (chunked) -> 413 soon after the cap, memory flat', async () => {
    const keysBefore = await svc.composition.services.storage.list('uploads/');
    const before = process.memoryUsage().rss;
    const res = await sendGenerated({ total, headers: { 'content-type': 'image/jpeg' } });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe('file_too_large');
    // Reading stopped at the cap: the client could not push (much) more than that.
    expect(res.sent).toBeGreaterThan(cap);
    expect(res.sent).toBeLessThan(total);
    // Streamed, never held: the server (in this process) did not grow by anything like 200 MB.
    expect(process.memoryUsage().rss - before).toBeLessThan(120 * MB);
    expect(leftovers()).toEqual([]);
    expect(await svc.composition.services.storage.list('uploads/')).toEqual(keysBefore);
  });

  it('a 250 MB multipart body without Content-Length -> 413', async () => {
    const prefix = Buffer.from('--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n');
    const res = await sendGenerated({ total, prefix, suffix: Buffer.from('\r\n--XyZ--\r\n'), headers: { 'content-type': 'multipart/form-data; boundary=XyZ' } });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe('file_too_large');
    expect(res.sent).toBeLessThan(total);
    expect(leftovers()).toEqual([]);
  });

  it('a Content-Length over the cap -> 413 before reading the body', async () => {
    const res = await sendGenerated({ total, headers: { 'content-type': 'image/jpeg', 'content-length': String(total) } });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe('file_too_large');
    expect(res.json.error.message).toMatch(/Content-Length: 262144000/);
    expect(res.sent).toBeLessThan(50 * MB);
  });

  it('a Content-Length under the real size -> the excess is never taken as upload bytes, nothing is stored', async () => {
    const keysBefore = await svc.composition.services.storage.list('uploads/');
    const head = `POST /v1/uploads HTTP/1.1\r\nHost: ${new URL(svc.url).host}\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\n`;
    const answer = await rawHttp(Buffer.concat([Buffer.from(head), jpeg]));
    // Only the declared 1000 bytes belong to the upload (a truncated JPEG: 422 image_corrupt);
    // Node's parser reads the rest as a malformed next request and answers 400 and closes,
    // which may come first. Either way nothing is stored.
    expect(answer).toMatch(/^HTTP\/1\.1 (400|422) /);
    await new Promise((r) => setTimeout(r, 300));
    expect(await svc.composition.services.storage.list('uploads/')).toEqual(keysBefore);
    expect(leftovers()).toEqual([]);
  });

  it('exactly the cap is accepted by the streamer (then judged by content)', async () => {
    // MAX_IMAGE_BYTES bytes of 0xab: not an image, but not too large either.
    const res = await sendGenerated({ total: cap, headers: { 'content-type': 'application/octet-stream' } });
    expect(res.status).toBe(415);
    expect(res.json.error.code).toBe('unsupported_type');
  });

  it('other /v1 routes keep their 1 MB JSON limit', async () => {
    const res = await api(svc.url, 'POST', '/v1/jobs', JSON.stringify({ images: ['https://example.com/a.jpg'], prompt: 'x'.repeat(1_100_000) }));
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe('payload_too_large');
  });
});

describe('jobs with { upload }', () => {
  it('rejects an unknown upload id with 400 naming images[i].upload', async () => {
    const res = await api(svc.url, 'POST', '/v1/jobs', { images: ['https://example.com/a.jpg', { upload: 'upl_00000000000000000000000000' }] });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: 'validation_error', field: 'images[1].upload' });
    expect(res.json.error.message).toContain('images[1].upload');
  });

  it('rejects a malformed upload id, and an object with both url and upload', async () => {
    const bad = await api(svc.url, 'POST', '/v1/jobs', { images: [{ upload: '../../etc/passwd' }] });
    expect(bad.status).toBe(400);
    expect(bad.json.error.field).toBe('images[0].upload');
    const both = await api(svc.url, 'POST', '/v1/jobs', { images: [{ url: 'https://example.com/a.jpg', upload: 'upl_00000000000000000000000000' }] });
    expect(both.status).toBe(400);
    expect(both.json.error.field).toBe('images[0]');
  });

  it("rejects another tenant's upload exactly like an unknown one", async () => {
    const tmp = path.join(svc.dataDir, 'other-tenant.jpg');
    fs.writeFileSync(tmp, jpeg);
    const id = 'upl_01jdx5v6m8q3c2r1t0e9w8y7x6';
    await saveUpload(svc.composition.services.storage, { id, tenant: 'other', bytes: jpeg.length, type: 'jpeg', contentType: 'image/jpeg', width: 640, height: 360, filename: null, createdAt: new Date().toISOString() }, tmp);
    const res = await api(svc.url, 'POST', '/v1/jobs', { images: [{ upload: id }] });
    expect(res.status).toBe(400);
    expect(res.json.error.field).toBe('images[0].upload');
  });

  it('renders a job made of an upload and a second upload, named upload:<id> in the plan', async () => {
    const a = (await uploadRaw(jpeg)).json;
    const b = (await uploadRaw(await orientedJpeg(8, 640, 360))).json;
    const res = await api(svc.url, 'POST', '/v1/jobs', { images: [{ upload: a.id }, { upload: b.id }], options: { resolution: '720p', secondsPerImage: 1, motion: 'none' } });
    expect(res.status).toBe(202);
    expect(res.json.images).toEqual([{ upload: a.id }, { upload: b.id }]);
    expect(res.json.plan.clips[0].image.source).toBe(`upload:${a.id}`);
    const job = await waitForJob(svc.url, res.json.id, isFinal, 120_000);
    expect(job.error).toBeNull();
    expect(job.status).toBe('succeeded');
    expect(job.warnings).toEqual([]);
    expect(job.plan.clips.map((c: any) => [c.image.index, c.image.source, c.image.width, c.image.height])).toEqual([
      [0, `upload:${a.id}`, 640, 360],
      [1, `upload:${b.id}`, 640, 360],
    ]);
  });
});
