import { FsSignedUrls } from '../adapters/fs/signed-urls.js';
import { VERSION } from '../core/version.js';
import { createApp } from '../handlers/app.js';
import { openApiYaml } from '../handlers/openapi-doc.js';
import { registerCreateUpload } from '../handlers/v1-uploads-create.js';
import type { Services } from '../pipeline/services.js';

/**
 * The OpenAPI document depends only on the route schemas, so it is built from an app
 * whose services are never called (no database, no queue).
 */
export function buildOpenApiYaml(): string {
  const app = createApp({} as Services, {
    version: VERSION,
    fileSigner: new FsSignedUrls('http://127.0.0.1:8080', Buffer.alloc(32), 60),
    uploads: registerCreateUpload,
  });
  return openApiYaml(app, VERSION);
}
