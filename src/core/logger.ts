import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs (one line per event). Secrets are redacted by path wherever they
 * might appear; code never logs request bodies or raw third-party responses.
 */
/** Where secrets might appear in a log record; shared with the Workers entry's logger. */
export const REDACT_PATHS = [
  'secret', '*.secret', 'token', '*.token', 'authorization', '*.authorization',
  'headers.authorization', '*.headers.authorization', 'req.headers.authorization',
  'headers["webhook-signature"]', '*.headers["webhook-signature"]',
  // Settings that hold keys, should a config object ever be logged.
  'API_KEYS', '*.API_KEYS', 'apiKeys', '*.apiKeys', 'WEBHOOK_SECRET', '*.WEBHOOK_SECRET',
  'WEBHOOK_SECRETS', '*.WEBHOOK_SECRETS', 'webhookSecrets', '*.webhookSecrets', 'METRICS_TOKEN', '*.METRICS_TOKEN',
  'AWS_SECRET_ACCESS_KEY', '*.AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', '*.AWS_SESSION_TOKEN', 'credentials', '*.credentials',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'photoreel' },
      redact: {
        paths: REDACT_PATHS,
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? process.stdout,
  );
}
