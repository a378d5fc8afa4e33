import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { dashboardFiles } from './dashboard-files.js';

/**
 * `npm run dashboards`: writes grafana/dashboards/*.json from their TypeScript sources in grafana/dashboards-src.
 * A test fails while a committed file differs from what its source generates.
 */
for (const { file, json } of dashboardFiles()) {
  const path = resolve(__dirname, '../..', file);
  writeFileSync(path, json);
  process.stdout.write(`written ${file}\n`);
}
