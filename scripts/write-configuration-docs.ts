import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderConfigurationReference, renderEnvExample } from './render-configuration.js';

/** `npm run config-docs`: writes .env.example and docs/configuration.md from the environment schema and its words. */
const root = resolve(__dirname, '../..');
for (const [path, text] of [
  ['.env.example', renderEnvExample()],
  ['docs/configuration.md', renderConfigurationReference()],
] as const) {
  writeFileSync(resolve(root, path), text);
  process.stdout.write(`written ${path}\n`);
}
