import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertSafeToListen, ConfigError, loadConfig, parseWebhookSecrets } from '../../src/config.js';
import { parseInlineKeys, parseKeysFile, tenantForKey } from '../../src/core/api-keys.js';
import { createLogger } from '../../src/core/logger.js';
import { startServer } from '../../src/entry/server.js';
import { TokenBuckets } from '../../src/handlers/limits.js';
import { Metrics } from '../../src/pipeline/metrics.js';

const hex = (key: string) => createHash('sha256').update(key).digest('hex');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-keys-'));

describe('API keys', () => {
  it('parses inline keys and finds the tenant of a key', () => {
    const keys = parseInlineKeys('tenantA:key-a-1111, tenantA:key-a-2222,tenantB:key:with:colons');
    expect(keys.map((k) => k.tenant)).toEqual(['tenantA', 'tenantA', 'tenantB']);
    expect(tenantForKey(keys, 'key-a-1111')).toBe('tenantA');
    expect(tenantForKey(keys, 'key-a-2222')).toBe('tenantA');
    expect(tenantForKey(keys, 'key:with:colons')).toBe('tenantB');
    expect(tenantForKey(keys, 'key-a-111')).toBeUndefined();
    expect(tenantForKey(keys, '')).toBeUndefined();
  });

  it('keeps only digests in memory', () => {
    const [k] = parseInlineKeys('t:secret-key-1');
    expect(k!.digest.toString('hex')).toBe(hex('secret-key-1'));
    expect(JSON.stringify(k)).not.toContain('secret-key-1');
  });

  it('parses a file of tenant:sha256hex lines, with comments', () => {
    const keys = parseKeysFile(`# generated\n\ntenantA:${hex('alpha-key-1')}\r\ntenantB:${hex('beta-key-22').toUpperCase()}\n`);
    expect(tenantForKey(keys, 'alpha-key-1')).toBe('tenantA');
    expect(tenantForKey(keys, 'beta-key-22')).toBe('tenantB');
    expect(() => parseKeysFile('tenantA:plaintext-key')).toThrow(/line 1.*64 hex/);
  });

  it.each([
    ['tenantA', /expected "tenant:key"/],
    ['tenantA:short', /at least 8/],
    ['ten/ant:longenough', /tenant "ten\/ant"/],
  ])('rejects the inline entry %s', (text, re) => {
    expect(() => parseInlineKeys(text)).toThrow(re);
  });

  it('loadConfig combines API_KEYS and API_KEYS_FILE and names bad ones', () => {
    const dir = tmp();
    const file = path.join(dir, 'keys');
    fs.writeFileSync(file, `tenantC:${hex('gamma-key-3')}\n`);
    const c = loadConfig({ API_KEYS: 'tenantA:alpha-key-1', API_KEYS_FILE: file, DATA_DIR: dir });
    expect(tenantForKey(c.apiKeys, 'alpha-key-1')).toBe('tenantA');
    expect(tenantForKey(c.apiKeys, 'gamma-key-3')).toBe('tenantC');
    expect(() => loadConfig({ API_KEYS_FILE: path.join(dir, 'missing') })).toThrow(/API_KEYS_FILE: cannot read/);
    expect(() => loadConfig({ API_KEYS: ',' })).toThrow(ConfigError);
    expect(() => loadConfig({ API_KEYS: 'nokey' })).toThrow(/API_KEYS entry 1/);
  });
});

describe('refusing to listen without keys', () => {
  it('allows loopback, keys, or ALLOW_UNAUTHENTICATED=1; refuses anything else with a clear message', () => {
    for (const HOST of ['127.0.0.1', '::1', 'localhost', '127.0.0.2']) expect(() => assertSafeToListen(loadConfig({ HOST }))).not.toThrow();
    expect(() => assertSafeToListen(loadConfig({ HOST: '0.0.0.0', API_KEYS: 'a:long-enough-key' }))).not.toThrow();
    expect(() => assertSafeToListen(loadConfig({ HOST: '0.0.0.0', ALLOW_UNAUTHENTICATED: '1' }))).not.toThrow();
    for (const HOST of ['0.0.0.0', '::', '10.0.0.5']) {
      expect(() => assertSafeToListen(loadConfig({ HOST }))).toThrow(/Refusing to listen on .* without authentication: set API_KEYS .* or set ALLOW_UNAUTHENTICATED=1/);
    }
  });

  it('startServer refuses before opening anything', async () => {
    const dir = path.join(tmp(), 'data');
    const config = loadConfig({ HOST: '0.0.0.0', PORT: '0', DATA_DIR: dir, LOG_LEVEL: 'silent' });
    await expect(startServer(config, { logger: createLogger('silent'), consumer: false })).rejects.toThrow(ConfigError);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('WEBHOOK_SECRETS', () => {
  const s1 = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const s2 = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
  it('parses tenants with one or more secrets, the signing one first', () => {
    expect(parseWebhookSecrets(`tenantA:${s1}|${s2}, tenantB:${s2}`)).toEqual({ tenantA: [s1, s2], tenantB: [s2] });
    expect(() => parseWebhookSecrets('tenantA:notasecret')).toThrow(/WEBHOOK_SECRETS entry 1/);
    expect(() => loadConfig({ WEBHOOK_SECRETS: `${s1}` })).toThrow(ConfigError);
  });
});

describe('TokenBuckets', () => {
  it('allows a burst of perMinute, then answers with the wait, per key, and refills', () => {
    const b = new TokenBuckets();
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) expect(b.take('a', 3, t0)).toEqual({ ok: true });
    expect(b.take('a', 3, t0)).toEqual({ ok: false, retryAfterSeconds: 20 });
    expect(b.take('b', 3, t0)).toEqual({ ok: true });
    expect(b.take('a', 3, t0 + 19_000)).toMatchObject({ ok: false, retryAfterSeconds: 1 });
    expect(b.take('a', 3, t0 + 20_100)).toEqual({ ok: true });
    expect(b.take('a', 0, t0)).toEqual({ ok: true }); // 0: unlimited
  });
});

describe('Metrics', () => {
  it('renders counters, histograms and gauges in the Prometheus text format', () => {
    const m = new Metrics();
    m.inc('photoreel_webhook_attempts_total', { outcome: 'delivered' });
    m.inc('photoreel_webhook_attempts_total', { outcome: 'delivered' });
    m.observe('photoreel_render_seconds', { engine: 'local' }, 3);
    m.observe('photoreel_render_seconds', { engine: 'local' }, 45);
    const text = m.render([{ name: 'photoreel_jobs', help: 'Jobs.', series: [{ labels: { status: 'queued' }, value: 4 }] }]);
    expect(text).toContain('# TYPE photoreel_jobs gauge\nphotoreel_jobs{status="queued"} 4\n');
    expect(text).toContain('photoreel_webhook_attempts_total{outcome="delivered"} 2\n');
    expect(text).toContain('# TYPE photoreel_render_seconds histogram');
    expect(text).toContain('photoreel_render_seconds_bucket{engine="local",le="2"} 0\n');
    expect(text).toContain('photoreel_render_seconds_bucket{engine="local",le="5"} 1\n');
    expect(text).toContain('photoreel_render_seconds_bucket{engine="local",le="60"} 2\n');
    expect(text).toContain('photoreel_render_seconds_bucket{engine="local",le="+Inf"} 2\n');
    expect(text).toContain('photoreel_render_seconds_sum{engine="local"} 48\n');
    expect(text).toContain('photoreel_render_seconds_count{engine="local"} 2\n');
    expect(m.value('photoreel_webhook_attempts_total', { outcome: 'delivered' })).toBe(2);
  });
});
