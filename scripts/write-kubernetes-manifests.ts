import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { prometheusRulesManifest } from './prometheus-rules-manifest.js';

/**
 * `npm run k8s`: writes the Kubernetes manifests that kustomize cannot build by itself from the repository's files
 * (today only the PrometheusRules from prometheus/rules/). A test fails while the committed output differs.
 */
const repoRoot = resolve(__dirname, '../..');
const { path, text } = prometheusRulesManifest(repoRoot, readdirSync, (file) => readFileSync(file, 'utf8'));
writeFileSync(resolve(repoRoot, path), text);
process.stdout.write(`written ${path}\n`);
