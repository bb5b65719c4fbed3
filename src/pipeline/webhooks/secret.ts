import fs from 'node:fs';
import path from 'node:path';
import { generateWebhookSecret } from './sign.js';

/**
 * The webhook signing secret: WEBHOOK_SECRET when set, else one generated on first start
 * and kept in DATA_DIR (mode 0600) so restarts keep signing with the same key.
 */
export function loadOrCreateSecret(dataDir: string, fromEnv: string | undefined, fileName = 'webhook-secret'): { secret: string; source: 'env' | 'file' | 'generated' } {
  if (fromEnv) return { secret: fromEnv, source: 'env' };
  const file = path.join(dataDir, fileName);
  try {
    const s = fs.readFileSync(file, 'utf8').trim();
    if (s) return { secret: s, source: 'file' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const secret = generateWebhookSecret();
  try {
    // 'wx': if another process won the race, keep its secret.
    fs.writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
    return { secret, source: 'generated' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { secret: fs.readFileSync(file, 'utf8').trim(), source: 'file' };
    throw err;
  }
}
