import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import yaml from 'js-yaml';
import { repoRoot } from '../../harness/repo-root.js';

export { repoRoot };

export function readRepoFile(relativePath: string): string {
  return readFileSync(resolve(repoRoot, relativePath), 'utf8');
}

export function readYaml(relativePath: string): unknown {
  return yaml.load(readRepoFile(relativePath));
}

export type YamlMap = Record<string, unknown>;

export function asMap(value: unknown, what: string): YamlMap {
  assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `${what} must be a mapping`);
  return value as YamlMap;
}

export function asList(value: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(value), `${what} must be a list`);
  return value;
}

/** Whether `command` can be run at all (spawn does not fail with ENOENT). */
export function commandExists(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).error === undefined;
}

/** A warning that stands out in mocha's output, for checks skipped because a tool is missing. */
export function warnLoudly(message: string): void {
  const bar = '!'.repeat(100);
  console.warn(`\n${bar}\n!! SKIPPED: ${message}\n${bar}\n`);
}
