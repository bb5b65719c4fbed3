import { createHmac, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signed content is
 * `${webhook-id}.${webhook-timestamp}.${body}`, HMAC-SHA256 with the secret's bytes
 * (the base64 after `whsec_`), sent as `webhook-signature: v1,<base64>`. Any Standard
 * Webhooks library verifies it; the test suite uses the `standardwebhooks` package.
 */

export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/**
 * With several secrets (rotation: the new one first, then the old), the header carries one
 * signature per secret separated by spaces, as the spec allows: a receiver holding either verifies.
 */
export function webhookHeaders(secret: string | readonly string[], id: string, body: string, now = Date.now()): Record<string, string> {
  const ts = Math.floor(now / 1000);
  const secrets = typeof secret === 'string' ? [secret] : secret;
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': secrets.map((k) => signWebhook(k, id, ts, body)).join(' '),
  };
}
