import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultRunbookBase, parseRunbookBase, withRunbookBase, type PackageInfo } from './runbook-urls.js';

/**
 * `npm run rules`: makes every alert's runbook_url absolute from one base, in prometheus/rules and in the promtool
 * tests that expect it. RUNBOOK_BASE_URL overrides the default (docs/runbooks.md in package.json's repository),
 * e.g. for an internal wiki mirror. A test fails while the committed files differ from the default rendering.
 */
const root = resolve(__dirname, '../..');
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as PackageInfo;
let base: string;
try {
  base = parseRunbookBase(process.env['RUNBOOK_BASE_URL'] || defaultRunbookBase(pkg));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
for (const folder of ['prometheus/rules', 'prometheus/tests']) {
  for (const name of readdirSync(resolve(root, folder)).filter((file) => file.endsWith('.yml'))) {
    const file = resolve(root, folder, name);
    const before = readFileSync(file, 'utf8');
    const after = withRunbookBase(before, base);
    if (after !== before) writeFileSync(file, after);
    process.stdout.write(`${after === before ? 'unchanged' : 'written  '} ${folder}/${name}\n`);
  }
}
process.stdout.write(`runbook base: ${base}\n`);
