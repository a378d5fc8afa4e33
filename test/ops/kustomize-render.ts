import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import yaml from 'js-yaml';
import { asMap, commandExists, repoRoot, type YamlMap } from './repo-files.js';

/** One object of a rendered manifest stream. */
export interface KubeObject extends YamlMap {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: YamlMap & { readonly name: string; readonly labels?: Record<string, string> };
}

/**
 * Why `kubectl kustomize` cannot run here, or undefined when it can. Debian's own kubectl (kubernetes-client) is too
 * old for this kustomization (kustomize v2): it counts as missing, with a message that says so.
 */
export function kustomizeUnavailable(): string | undefined {
  if (!commandExists('kubectl'))
    return 'kubectl is not installed (`apt-get install -y kubectl` from a Kubernetes apt repository)';
  const version = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  const kustomize = /Kustomize Version: v(\d+)/.exec(version.stdout ?? '');
  if (kustomize === null) return `this kubectl has no built-in kustomize:\n${version.stdout}${version.stderr}`;
  if (Number(kustomize[1]) < 4) return `this kubectl's kustomize is v${kustomize[1]}; the base needs v4 or later`;
  return undefined;
}

/** `kubectl kustomize <dir>`: offline, no cluster needed. */
export function renderKustomization(relativeDir: string): KubeObject[] {
  const result = spawnSync('kubectl', ['kustomize', relativeDir], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(result.status, 0, `kubectl kustomize ${relativeDir}:\n${result.stderr}`);
  return yaml.loadAll(result.stdout).map((raw, index) => {
    const object = asMap(raw, `document ${index}`);
    assert.equal(typeof object['apiVersion'], 'string', `document ${index}: apiVersion`);
    assert.equal(typeof object['kind'], 'string', `document ${index}: kind`);
    assert.equal(
      typeof asMap(object['metadata'], `document ${index}: metadata`)['name'],
      'string',
      `document ${index}: metadata.name`,
    );
    return object as KubeObject;
  });
}

/** The one object of a kind (and name, when given); fails when there is none or more than one. */
export function single(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(
    found.length,
    1,
    `expected one ${kind}${name === undefined ? '' : ` named ${name}`}, found ${found.length}`,
  );
  return found[0]!;
}

/** CPU quantity in cores: "2", "0.5", "1500m". */
export function cpuCores(quantity: string | number): number {
  const text = String(quantity);
  const cores = text.endsWith('m') ? Number(text.slice(0, -1)) / 1000 : Number(text);
  assert.ok(Number.isFinite(cores) && cores > 0, `CPU quantity ${text}`);
  return cores;
}

/** Every label of `selector` is on `labels` with the same value. */
export function selects(
  selector: Readonly<Record<string, unknown>>,
  labels: Readonly<Record<string, unknown>> | undefined,
): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([key, value]) => labels?.[key] === value);
}
