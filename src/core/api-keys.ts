import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * API keys and the tenants they belong to. Keys are held only as SHA-256 digests: from
 * `API_KEYS` (inline `tenant:key` pairs, hashed at start) or from `API_KEYS_FILE`
 * (`tenant:<sha256 hex of the key>` lines, so the file never holds a usable key).
 * A line for the file: `printf '%s:%s\n' tenantA "$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)"`.
 */

/** Tenant names end up in storage keys (`videos/{tenant}/...`): keep them path-safe. */
export const TENANT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface ApiKeyEntry {
  tenant: string;
  /** SHA-256 of the key. */
  digest: Buffer;
}

export const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

function checkTenant(tenant: string, where: string): string {
  if (!TENANT_PATTERN.test(tenant)) throw new Error(`${where}: tenant "${tenant}" must be 1-64 letters, digits, "_" or "-"`);
  return tenant;
}

/** `tenantA:key1,tenantA:key2,tenantB:key3` (keys may contain ':'; the first ':' splits). */
export function parseInlineKeys(text: string): ApiKeyEntry[] {
  return text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((pair, i) => {
      const at = pair.indexOf(':');
      const key = at > 0 ? pair.slice(at + 1) : '';
      if (at <= 0 || key.length < 8) throw new Error(`API_KEYS entry ${i + 1}: expected "tenant:key" with a key of at least 8 characters`);
      return { tenant: checkTenant(pair.slice(0, at), `API_KEYS entry ${i + 1}`), digest: sha256(key) };
    });
}

/** Lines `tenant:sha256hex`; blank lines and `#` comments are ignored. */
export function parseKeysFile(text: string, name = 'API_KEYS_FILE'): ApiKeyEntry[] {
  const out: ApiKeyEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^([^:]+):([0-9a-fA-F]{64})$/.exec(line);
    if (!m) throw new Error(`${name} line ${i + 1}: expected "tenant:<64 hex digits of sha256(key)>"`);
    out.push({ tenant: checkTenant(m[1]!, `${name} line ${i + 1}`), digest: Buffer.from(m[2]!, 'hex') });
  });
  return out;
}

/**
 * The tenant a presented key belongs to, or undefined. Every entry is compared (no early
 * exit) with timingSafeEqual on fixed-length digests, so timing says nothing about keys.
 */
export function tenantForKey(entries: readonly ApiKeyEntry[], key: string): string | undefined {
  const digest = sha256(key);
  let found: string | undefined;
  for (const e of entries) {
    if (timingSafeEqual(e.digest, digest) && found === undefined) found = e.tenant;
  }
  return found;
}
