import fs from 'node:fs';
import { Transform, type Readable, type Writable } from 'node:stream';
import { Busboy, type BusboyInstance } from '@fastify/busboy';
import { AppError } from '../../core/errors.js';

/**
 * Streams an upload's body into a file, never holding it in memory: either the raw body
 * (any content type) or the one file part of a multipart/form-data body. `maxBytes` is
 * enforced on the bytes that actually arrive, whatever Content-Length says (or when there
 * is none): one byte more and reading stops (the request is unpiped and paused; the HTTP
 * layer answers and then drains or drops the connection), the partial file is deleted, and
 * the promise rejects with `file_too_large`.
 */

export interface ReceiveOptions {
  /** The request's Content-Type header ('' when absent). */
  contentType: string;
  maxBytes: number;
  /** Where the bytes go (created; deleted again on failure). */
  dest: string;
}

export interface ReceiveResult {
  bytes: number;
  /** The part's file name (multipart only). */
  filename: string | null;
}

export const isMultipart = (contentType: string) => /^multipart\/form-data\s*;/i.test(contentType.trim());

function tooLarge(maxBytes: number): AppError {
  return new AppError('file_too_large', `the file is larger than the ${maxBytes}-byte limit`);
}
function invalid(message: string): AppError {
  return new AppError('validation_error', message, { field: 'body' });
}

export function receiveToFile(body: Readable, opts: ReceiveOptions): Promise<ReceiveResult> {
  const { maxBytes, dest } = opts;
  return new Promise<ReceiveResult>((resolve, reject) => {
    let settled = false;
    let bytes = 0;
    let filename: string | null = null;
    let out: fs.WriteStream | null = null;
    let parser: Writable | null = null;
    let counter: Transform | null = null;

    const stopReading = () => {
      if (parser) body.unpipe(parser);
      if (counter) body.unpipe(counter);
      body.pause();
    };
    const fail = (err: AppError) => {
      if (settled) return;
      settled = true;
      stopReading();
      body.off('close', onClose);
      // Remove the file only once the write stream has closed (it may still be opening it).
      const w = out;
      const closed = w && !w.closed ? new Promise<void>((r) => w.once('close', () => r())) : Promise.resolve();
      w?.destroy();
      closed
        .then(() => fs.promises.rm(dest, { force: true }))
        .catch(() => undefined)
        .finally(() => reject(err));
    };
    const succeed = () => {
      if (settled) return;
      settled = true;
      body.off('close', onClose);
      resolve({ bytes, filename });
    };
    const onClose = () => {
      if (!body.readableEnded) fail(invalid('the connection closed before the whole upload arrived'));
    };
    body.on('close', onClose);
    body.on('error', () => fail(invalid('the connection failed before the whole upload arrived')));
    // Already gone before we got to it (the client hung up, or its connection was dropped).
    if (body.destroyed && !body.readableEnded) return fail(invalid('the connection closed before the whole upload arrived'));

    /** Counts, caps and writes one stream of file bytes; calls `done` once it is on disk. */
    const sink = (source: Readable, done: () => void) => {
      counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          if (bytes > maxBytes) {
            fail(tooLarge(maxBytes));
            return cb();
          }
          cb(null, chunk);
        },
      });
      out = fs.createWriteStream(dest);
      out.on('error', () => fail(new AppError('internal_error', 'could not store the upload', { retryable: true })));
      out.on('finish', () => !settled && done());
      source.pipe(counter!).pipe(out);
    };

    if (!isMultipart(opts.contentType)) {
      parser = null;
      sink(body, succeed);
      return;
    }

    let bb: BusboyInstance;
    try {
      bb = Busboy({
        headers: { 'content-type': opts.contentType },
        limits: { files: 1, fileSize: maxBytes, fields: 20, fieldSize: 64 * 1024, parts: 32, headerPairs: 50 },
      });
    } catch (err) {
      fail(invalid(`the multipart body cannot be read: ${(err as Error).message}`));
      return;
    }
    parser = bb;
    let gotFile = false;
    let fileWritten = false;
    let parsed = false;
    const maybeDone = () => parsed && fileWritten && succeed();
    bb.on('file', (_field, file, name) => {
      if (gotFile) return void file.resume();
      gotFile = true;
      filename = typeof name === 'string' && name !== '' ? name.slice(0, 255) : null;
      file.on('limit', () => fail(tooLarge(maxBytes)));
      sink(file, () => {
        fileWritten = true;
        maybeDone();
      });
    });
    bb.on('filesLimit', () => fail(invalid('send exactly one file per upload')));
    bb.on('partsLimit', () => fail(invalid('too many parts in the multipart body')));
    bb.on('fieldsLimit', () => fail(invalid('too many fields in the multipart body')));
    bb.on('error', (err: Error) => fail(invalid(`the multipart body cannot be read: ${err.message}`)));
    bb.on('finish', () => {
      parsed = true;
      if (!gotFile) return fail(invalid('the multipart body has no file part'));
      maybeDone();
    });
    body.pipe(bb);
  });
}
