import { resolve } from 'node:path';

/** The repository's root, from the compiled file's place under dist/harness/. */
export const repoRoot = resolve(__dirname, '../..');
