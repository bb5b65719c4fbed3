import fs from 'node:fs/promises';
import path from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { assertSafeToListen, type Config } from '../config.js';
import { createLogger, type Logger } from '../core/logger.js';
import { VERSION } from '../core/version.js';
import { createApp } from '../handlers/app.js';
import { registerCreateUpload } from '../handlers/v1-uploads-create.js';
import { Consumer } from '../pipeline/consumer.js';
import { compose, type Composition } from './compose.js';

export interface RunningServer {
  url: string;
  port: number;
  composition: Composition;
  consumer: Consumer;
  /** Stop accepting requests, let renders finish (or release them after the grace period), close the database. */
  close(graceMs?: number): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** API + queue consumer in one process: the embedded default behind `npm start`. */
export interface StartOptions {
  logger?: Logger;
  /** false: API only (tests of the HTTP surface keep jobs queued). Default true. */
  consumer?: boolean;
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  assertSafeToListen(config);
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const composition = compose(config, logger);
  const { services, fileSigner } = composition;
  const app = createApp(services, { version: VERSION, fileSigner, uploads: registerCreateUpload });

  // Scratch folders and half-written objects of work that died with an earlier process
  // (embedded mode: one process per DATA_DIR). Before listening: an upload that arrives
  // must never have its scratch file swept away under it.
  await fs.rm(path.join(config.dataDir, 'work'), { recursive: true, force: true });
  const swept = (await services.storage.sweepIncomplete?.()) ?? 0;
  if (swept > 0) logger.info({ files: swept }, 'removed partial writes left by an earlier process');

  const server = createAdaptorServer({ fetch: app.fetch, hostname: config.HOST }) as Server;
  // Slow clients must not hold sockets forever, but a 200 MB upload on a slow link is
  // legitimate: headers get 60 s, a whole request 30 min, and a socket that goes
  // quiet for 60 s is dropped (this is what stops drip-fed bodies).
  server.headersTimeout = 60_000;
  server.requestTimeout = 30 * 60_000;
  server.timeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = config.PUBLIC_BASE_URL ? config.publicBaseUrl : config.publicBaseUrl.replace(/:\d+$/, `:${port}`);
  fileSigner?.setBaseUrl(url);

  const consumer = new Consumer(services);
  if (opts.consumer !== false) consumer.start();
  logger.info({ url, host: config.HOST, port, dataDir: config.dataDir, version: VERSION, loopbackOnly: LOOPBACK.has(config.HOST), auth: config.apiKeys.length > 0 ? `${new Set(config.apiKeys.map((k) => k.tenant)).size} tenants` : 'off' }, 'photoreel listening');

  return {
    url,
    port,
    composition,
    consumer,
    async close(graceMs = config.SHUTDOWN_GRACE_SECONDS * 1000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await consumer.stop(graceMs);
      await closed;
      await composition.close();
    },
  };
}
