/** `npm run openapi:write`: regenerate openapi.yaml from the route schemas (a test fails when it drifts). */
import fs from 'node:fs';
import { buildOpenApiYaml } from './openapi-source.js';

fs.writeFileSync(new URL('../../openapi.yaml', import.meta.url), buildOpenApiYaml());
process.stdout.write('openapi.yaml written\n');
