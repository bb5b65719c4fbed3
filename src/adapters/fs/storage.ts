import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { AppError } from '../../core/errors.js';
import type { ObjectInfo, ObjectStorage } from '../ports.js';

const META_SUFFIX = '.meta.json';
const TMP_MARK = '.tmp-';

const TYPES_BY_EXTENSION: Record<string, string> = {
  '.mp4': 'video/mp4',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.json': 'application/json',
};

/**
 * Objects as files below a root folder: key `videos/default/job_x.mp4` is the file
 * `<root>/videos/default/job_x.mp4`; its content type sits beside it in
 * `job_x.mp4.meta.json`. Writes go to a temporary file in the same folder and are
 * renamed into place, so a reader sees the old object or the whole new one (a reader
 * that already opened the old file keeps reading the old bytes).
 */
export class FsStorage implements ObjectStorage {
  readonly root: string;

  constructor(rootDir: string) {
    this.root = resolve(rootDir);
  }

  /** The file behind a key (validated: no traversal, no absolute paths). */
  pathOf(key: string): string {
    assertKey(key);
    const full = resolve(this.root, key);
    if (!full.startsWith(this.root + sep)) throw invalidKey(key, 'resolves outside the storage root');
    return full;
  }

  async putFile(key: string, filePath: string, contentType: string): Promise<ObjectInfo> {
    const target = this.pathOf(key);
    await mkdir(resolve(target, '..'), { recursive: true });
    const tmp = `${target}${TMP_MARK}${randomBytes(6).toString('hex')}`;
    const metaTmp = `${target}${META_SUFFIX}${TMP_MARK}${randomBytes(6).toString('hex')}`;
    try {
      await copyFile(filePath, tmp);
      await writeFile(metaTmp, JSON.stringify({ contentType }));
      const { size } = await stat(tmp);
      await rename(tmp, target);
      await rename(metaTmp, target + META_SUFFIX);
      return { bytes: size, contentType };
    } catch (err) {
      await unlink(tmp).catch(() => {});
      await unlink(metaTmp).catch(() => {});
      throw err;
    }
  }

  /**
   * Temporary files of putFile calls that never finished (the process died between copy
   * and rename). Embedded mode runs one process per DATA_DIR, so at start-up none of
   * them can belong to a write still in progress.
   */
  async sweepIncomplete(): Promise<number> {
    let removed = 0;
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(ifMissing([]));
      for (const e of entries) {
        const full = join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.name.includes(TMP_MARK)) {
          await unlink(full).catch(() => {});
          removed++;
        }
      }
    };
    await walk(this.root);
    return removed;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.pathOf(key);
    const st = await stat(file).catch(ifMissing(undefined));
    if (!st || !st.isFile()) return undefined;
    return { bytes: st.size, contentType: await this.#contentType(file) };
  }

  /**
   * The object's bytes, or the inclusive byte range (like HTTP Range; `end` past the
   * end is clamped). Throws AppError not_found / range_not_satisfiable.
   */
  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const file = this.pathOf(key);
    // Open first: errors surface here rather than on the stream, and the stream keeps
    // reading this version even if the object is replaced meanwhile.
    const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EISDIR' || err.code === 'ENOTDIR') {
        throw new AppError('not_found', `no object ${key}`);
      }
      throw err;
    });
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new AppError('not_found', `no object ${key}`);
      if (!range) return handle.createReadStream({ autoClose: true });
      const { start } = range;
      if (!Number.isInteger(start) || !Number.isInteger(range.end) || start < 0 || range.end < start || start >= st.size) {
        throw new AppError('range_not_satisfiable', `range ${range.start}-${range.end} is not satisfiable for ${st.size} bytes`);
      }
      const end = Math.min(range.end, st.size - 1);
      return handle.createReadStream({ start, end, autoClose: true });
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    await unlink(file).catch(ifMissing(undefined));
    await unlink(file + META_SUFFIX).catch(ifMissing(undefined));
  }

  /** Keys starting with `prefix` (a plain string prefix, not only a folder), sorted. */
  async list(prefix: string): Promise<string[]> {
    if (prefix !== '') assertKey(prefix, true);
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash === -1 ? '' : prefix.slice(0, slash);
    const start = dirKey === '' ? this.root : this.pathOf(dirKey);
    const out: string[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(ifMissing([]));
      for (const e of entries) {
        const key = keyPrefix + e.name;
        if (e.isDirectory()) {
          const asDir = key + '/';
          if (asDir.startsWith(prefix) || prefix.startsWith(asDir)) await walk(join(dir, e.name), asDir);
        } else if (e.isFile() && key.startsWith(prefix) && !isInternalName(e.name)) {
          out.push(key);
        }
      }
    };
    await walk(start, dirKey === '' ? '' : dirKey + '/');
    return out.sort();
  }

  async #contentType(file: string): Promise<string> {
    try {
      const meta = JSON.parse(await readFile(file + META_SUFFIX, 'utf8')) as { contentType?: unknown };
      if (typeof meta.contentType === 'string' && meta.contentType !== '') return meta.contentType;
    } catch {
      // no (readable) sidecar: fall back to the extension
    }
    return TYPES_BY_EXTENSION[extname(file).toLowerCase()] ?? 'application/octet-stream';
  }
}

function isInternalName(name: string): boolean {
  return name.endsWith(META_SUFFIX) || name.includes(TMP_MARK);
}

function assertKey(key: string, isPrefix = false): void {
  if (typeof key !== 'string' || key === '') throw invalidKey(String(key), 'is empty');
  if (key.length > 1024) throw invalidKey(key.slice(0, 64) + '...', 'is longer than 1024 characters');
  if (key.includes('\0')) throw invalidKey(key, 'contains NUL');
  if (key.includes('\\')) throw invalidKey(key, 'contains a backslash');
  if (key.startsWith('/')) throw invalidKey(key, 'is absolute');
  const segments = key.split('/');
  // A prefix may end with '/' (an empty last segment); a key may not.
  const checked = isPrefix && key.endsWith('/') ? segments.slice(0, -1) : segments;
  for (const s of checked) {
    if (s === '') throw invalidKey(key, 'has an empty path segment');
    if (s === '.' || s === '..') throw invalidKey(key, `has a "${s}" segment`);
  }
  if (key.includes('..')) throw invalidKey(key, 'contains ".."');
  const last = segments[segments.length - 1]!;
  if (!isPrefix && isInternalName(last)) throw invalidKey(key, `ends in a name reserved for storage internals`);
}

function invalidKey(key: string, why: string): Error {
  return new Error(`invalid storage key ${JSON.stringify(key)}: ${why}`);
}

function ifMissing<T>(value: T) {
  return (err: NodeJS.ErrnoException): T => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return value;
    throw err;
  };
}
