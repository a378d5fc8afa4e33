import { resolve } from 'node:path';
import { renderPrometheusRules } from './render-prometheus-rules.js';

export const prometheusRulesDirectory = 'prometheus/rules';

/** Where the generated PrometheusRules live in the kustomize base, and what they must contain. */
export function prometheusRulesManifest(
  repoRoot: string,
  listDirectory: (path: string) => string[],
  readText: (path: string) => string,
): { readonly path: string; readonly text: string } {
  const files = listDirectory(resolve(repoRoot, prometheusRulesDirectory))
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => {
      const path = `${prometheusRulesDirectory}/${name}`;
      return { path, text: readText(resolve(repoRoot, path)) };
    });
  const text = renderPrometheusRules(files, 'mysql-budget-cluster', {
    'app.kubernetes.io/name': 'mysql-budget-cluster',
  });
  return { path: 'deploy/kubernetes/generated/prometheus-rules.yaml', text };
}
