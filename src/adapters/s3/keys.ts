/**
 * Key helpers shared by the S3 adapters. Everything that ends up inside an S3 key is
 * validated here, because S3 itself accepts any string: without these checks a crafted
 * job id or storage key could address another tenant's objects or the store's own
 * bookkeeping.
 */

/** `''` stays empty; anything else gets exactly one trailing slash, so `a` and `a/` mean the same folder. */
export function normalizePrefix(prefix: string | undefined): string {
  if (!prefix) return '';
  if (prefix.startsWith('/') || prefix.includes('\0')) throw new Error(`invalid S3 key prefix ${JSON.stringify(prefix)}`);
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/**
 * Storage keys follow the same rules as FsStorage (relative, no empty / `.` / `..`
 * segments), so a key that works in embedded mode works here and vice versa.
 */
export function assertObjectKey(key: string, isPrefix = false): void {
  const bad = (why: string) => new Error(`invalid storage key ${JSON.stringify(key.length > 64 ? key.slice(0, 64) + '...' : key)}: ${why}`);
  if (typeof key !== 'string' || key === '') throw bad('is empty');
  if (key.length > 900) throw bad('is too long');
  if (key.includes('\0')) throw bad('contains NUL');
  if (key.includes('\\')) throw bad('contains a backslash');
  if (key.startsWith('/')) throw bad('is absolute');
  const segments = key.split('/');
  const checked = isPrefix && key.endsWith('/') ? segments.slice(0, -1) : segments;
  for (const s of checked) {
    if (s === '') throw bad('has an empty path segment');
    if (s === '.' || s === '..') throw bad(`has a "${s}" segment`);
  }
}

export const TENANT_KEY_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * newId('job') gives `job_` + 26 lower-case Crockford characters; the pattern is a little
 * wider (any ASCII letters and digits) so ids from other generators still work, and the
 * index ordering below is defined for that whole alphabet.
 */
export const JOB_ID_PATTERN = /^job_[0-9A-Za-z]{1,100}$/;

export const isValidTenant = (t: unknown): t is string => typeof t === 'string' && TENANT_KEY_PATTERN.test(t);
export const isValidJobId = (id: unknown): id is string => typeof id === 'string' && JOB_ID_PATTERN.test(id);

// In ASCII (= S3's UTF-8 binary) order, which is also how SQLite compares the ids.
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const MIRROR = new Map([...ALPHABET].map((c, i) => [c, ALPHABET[ALPHABET.length - 1 - i]!]));
/** Sorts after every alphabet character, so a shorter id that is a prefix of a longer one still lands after it. */
const END = '~';
const ID_HEAD = 'job_';

/**
 * S3 lists keys in ascending order only; mirroring each character of the id over the
 * alphabet turns "newest first" into "ascending". For any two ids a < b (binary, as
 * SQLite compares them) this gives invert(a) > invert(b), including when one is a prefix
 * of the other (the END mark), so `StartAfter: invert(cursor)` is exactly `id < cursor`.
 */
export function invertJobId(id: string): string {
  if (!isValidJobId(id)) throw new Error(`invalid job id ${JSON.stringify(id)}`);
  let out = '';
  for (const c of id.slice(ID_HEAD.length)) out += MIRROR.get(c)!;
  return out + END;
}

/** The id behind an inverted index name, or undefined for a name this store never wrote. */
export function uninvertJobId(name: string): string | undefined {
  if (!name.endsWith(END)) return undefined;
  let out = ID_HEAD;
  for (const c of name.slice(0, -END.length)) {
    const m = MIRROR.get(c);
    if (m === undefined) return undefined;
    out += m;
  }
  return isValidJobId(out) ? out : undefined;
}

/** `key` with each segment percent-encoded but the slashes kept, for URL paths. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
