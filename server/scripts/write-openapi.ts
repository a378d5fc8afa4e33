import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createOpenApiDocument } from '../http/openapi-document.js';

/**
 * `npm run openapi`: writes docs/openapi.json from the code (then openapi-typescript regenerates the load tester's
 * client types from it). A test fails while the committed file differs from what the code generates.
 */
const file = resolve(__dirname, '../../../docs/openapi.json');
writeFileSync(file, `${JSON.stringify(createOpenApiDocument(), null, 2)}\n`);
process.stdout.write(`written ${file}\n`);
