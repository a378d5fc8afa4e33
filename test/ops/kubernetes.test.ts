import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import yaml from 'js-yaml';
import { prometheusRulesManifest } from '../../scripts/prometheus-rules-manifest.js';
import { loadConfig } from '../../server/config/load-config.js';
import type { Config } from '../../server/config/config.js';
import { createOpenApiDocument } from '../../server/http/openapi-document.js';
import {
  cpuCores,
  kustomizeUnavailable,
  renderKustomization,
  selects,
  single,
  type KubeObject,
} from './kustomize-render.js';
import { asList, asMap, readRepoFile, repoRoot, warnLoudly, type YamlMap } from './repo-files.js';

/*
 * deploy/kubernetes is rendered by `kubectl kustomize` (offline), every object is validated against the Kubernetes and
 * Prometheus Operator schemas, and the objects are checked against each other and against the app: selectors, ports,
 * probes, the environment (parsed by the app's own loadConfig), shutdown timing, the connection budget under the
 * autoscaler, and the rules and dashboard, which must be the repository's own files.
 */

const base = 'deploy/kubernetes';
const dashboardsDir = 'grafana/dashboards';
const podLabelsPath = 'spec.template.metadata.labels';

type Validatable = { validate(): void };
type ModelClass = new (data: never) => Validatable;

/** The schema model for each apiVersion/kind the base may contain (ESM-only packages: loaded with import()). */
async function loadModels(): Promise<Map<string, ModelClass>> {
  const core = await import('kubernetes-models/v1');
  const apps = await import('kubernetes-models/apps/v1');
  const policy = await import('kubernetes-models/policy/v1');
  const autoscaling = await import('kubernetes-models/autoscaling/v2');
  const monitoring = await import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1');
  const models: [string, unknown][] = [
    ['v1/ConfigMap', core.ConfigMap],
    ['v1/Secret', core.Secret],
    ['v1/Service', core.Service],
    ['apps/v1/Deployment', apps.Deployment],
    ['policy/v1/PodDisruptionBudget', policy.PodDisruptionBudget],
    ['autoscaling/v2/HorizontalPodAutoscaler', autoscaling.HorizontalPodAutoscaler],
    ['monitoring.coreos.com/v1/PodMonitor', monitoring.PodMonitor],
    ['monitoring.coreos.com/v1/PrometheusRule', monitoring.PrometheusRule],
  ];
  return new Map(models.map(([key, model]) => [key, model as ModelClass]));
}

function validateAgainstSchema(models: Map<string, ModelClass>, object: KubeObject): void {
  const Model = models.get(`${object.apiVersion}/${object.kind}`);
  assert.ok(Model, `${object.apiVersion} ${object.kind} ${object.metadata.name}: no schema known for this kind`);
  new Model(structuredClone(object) as never).validate();
}

const at = (object: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((value, key) => (value as YamlMap | undefined)?.[key], object);

/** The environment the kubelet gives the container: envFrom first, then env (which wins), with references resolved. */
function containerEnvironment(objects: readonly KubeObject[], container: YamlMap): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of asList(container['envFrom'] ?? [], 'envFrom')) {
    const name = String(at(source, 'configMapRef.name'));
    Object.assign(env, asMap(single(objects, 'ConfigMap', name)['data'], `ConfigMap ${name} data`));
  }
  for (const raw of asList(container['env'] ?? [], 'env')) {
    const variable = asMap(raw, 'env entry');
    const name = String(variable['name']);
    const from = variable['valueFrom'] === undefined ? undefined : asMap(variable['valueFrom'], `${name} valueFrom`);
    if (from === undefined) {
      env[name] = String(variable['value']);
    } else if (from['resourceFieldRef'] !== undefined) {
      const ref = asMap(from['resourceFieldRef'], `${name} resourceFieldRef`);
      assert.equal(ref['resource'], 'limits.cpu', `${name}: only the CPU limit is expected here`);
      const limit = at(container, 'resources.limits.cpu');
      assert.ok(limit !== undefined, `${name} comes from limits.cpu, so the container needs a CPU limit`);
      // The kubelet rounds up: a 1500m limit over divisor 1 gives 2.
      env[name] = String(
        Math.ceil(cpuCores(limit as string) / cpuCores((ref['divisor'] as string | undefined) ?? '1')),
      );
    } else if (from['secretKeyRef'] !== undefined) {
      const ref = asMap(from['secretKeyRef'], `${name} secretKeyRef`);
      const data = asMap(single(objects, 'Secret', String(ref['name']))['data'], `Secret ${String(ref['name'])} data`);
      const encoded = data[String(ref['key'])];
      assert.equal(
        typeof encoded,
        'string',
        `${name}: key ${String(ref['key'])} missing from Secret ${String(ref['name'])}`,
      );
      env[name] = Buffer.from(encoded as string, 'base64').toString('utf8');
    } else {
      assert.fail(`${name}: unexpected valueFrom ${JSON.stringify(from)}`);
    }
  }
  return env;
}

/** A container port by name or number, as probes and Services may give it. */
function containerPort(container: YamlMap, port: unknown): number {
  const ports = asList(container['ports'], 'container ports').map((p) => asMap(p, 'container port'));
  const found = ports.find((p) => p['name'] === port || p['containerPort'] === port);
  assert.ok(found, `port ${String(port)} is not a port of container ${String(container['name'])}`);
  return Number(found['containerPort']);
}

/** How many pods a rollout may add on top of the desired count (maxSurge is a number or a percentage, rounded up). */
function surgePods(deployment: KubeObject, replicas: number): number {
  const surge = at(deployment, 'spec.strategy.rollingUpdate.maxSurge') ?? '25%';
  return typeof surge === 'number' ? surge : Math.ceil((replicas * Number(String(surge).replace('%', ''))) / 100);
}

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  let objects: KubeObject[] = [];
  let models = new Map<string, ModelClass>();
  let deployment: KubeObject;
  let container: YamlMap;
  let podLabels: Record<string, unknown>;
  let config: Config;

  before(async function () {
    const unavailable = kustomizeUnavailable();
    if (unavailable !== undefined) {
      warnLoudly(`${unavailable}: the Kubernetes manifests were NOT rendered or checked.`);
      this.skip();
    }
    objects = renderKustomization(base);
    models = await loadModels();
    deployment = single(objects, 'Deployment');
    const containers = asList(at(deployment, 'spec.template.spec.containers'), 'containers');
    assert.equal(containers.length, 1, 'one container: the cluster primary and its workers');
    container = asMap(containers[0], 'container');
    podLabels = asMap(at(deployment, podLabelsPath), podLabelsPath);
    config = loadConfig(containerEnvironment(objects, container));
  });

  it('renders the Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler, config, secret, PodMonitor, PrometheusRules and dashboard', () => {
    const kinds = [...new Set(objects.map((o) => o.kind))].sort();
    assert.deepEqual(kinds, [
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'PodMonitor',
      'PrometheusRule',
      'Secret',
      'Service',
    ]);
    for (const kind of [
      'Deployment',
      'Service',
      'PodDisruptionBudget',
      'HorizontalPodAutoscaler',
      'PodMonitor',
      'Secret',
    ])
      single(objects, kind);
  });

  it('validates every object against the Kubernetes and Prometheus Operator schemas', () => {
    for (const object of objects) {
      assert.doesNotThrow(() => validateAgainstSchema(models, object), `${object.kind} ${object.metadata.name}`);
    }
  });

  it('the schema check rejects a broken object (so the check above can fail)', () => {
    const broken = structuredClone(deployment) as KubeObject & YamlMap;
    delete asMap(asList(at(broken, 'spec.template.spec.containers'), 'containers')[0], 'container')['name'];
    assert.throws(() => validateAgainstSchema(models, broken));
    const rule = structuredClone(single(objects, 'PrometheusRule', 'mysql-budget-cluster-api'));
    const firstRule = asMap(
      asList(asMap(asList(at(rule, 'spec.groups'), 'groups')[0], 'group')['rules'], 'rules')[0],
      'rule',
    );
    delete firstRule['expr'];
    assert.throws(() => validateAgainstSchema(models, rule));
  });

  it('selects the pods from the Deployment, Service, PodDisruptionBudget and PodMonitor', () => {
    assert.ok(
      selects(asMap(at(deployment, 'spec.selector.matchLabels'), 'Deployment selector'), podLabels),
      'Deployment selector',
    );
    assert.ok(
      selects(asMap(at(single(objects, 'Service'), 'spec.selector'), 'Service selector'), podLabels),
      'Service selector',
    );
    assert.ok(
      selects(
        asMap(at(single(objects, 'PodDisruptionBudget'), 'spec.selector.matchLabels'), 'PDB selector'),
        podLabels,
      ),
      'PDB selector',
    );
    assert.ok(
      selects(asMap(at(single(objects, 'PodMonitor'), 'spec.selector.matchLabels'), 'PodMonitor selector'), podLabels),
      'PodMonitor selector',
    );
  });

  it('sets an environment the app accepts, with the ports the container exposes (the defaults: 8080, metrics on 9464)', () => {
    const defaults = loadConfig({});
    assert.equal(containerPort(container, 'http'), config.http.port);
    assert.equal(containerPort(container, 'metrics'), config.metrics.port);
    assert.equal(config.http.port, defaults.http.port);
    assert.equal(config.metrics.port, defaults.metrics.port);
    assert.equal(config.nodeEnv, 'production');
    assert.equal(
      config.cluster.workers,
      Math.ceil(cpuCores(at(container, 'resources.limits.cpu') as string)),
      'WORKERS from the CPU limit',
    );
    assert.equal(asList(container['ports'], 'ports').length, 2, 'the API and metrics ports only');
  });

  it('probes liveness on /healthz and readiness on /readyz, on the API port, paths the app serves', () => {
    const served = Object.keys(asMap(createOpenApiDocument()['paths'], 'OpenAPI paths'));
    const probes: [string, string][] = [
      ['livenessProbe', '/healthz'],
      ['readinessProbe', '/readyz'],
      ['startupProbe', '/healthz'],
    ];
    for (const [probe, path] of probes) {
      const get = asMap(at(container, `${probe}.httpGet`), `${probe}.httpGet`);
      assert.equal(get['path'], path, probe);
      assert.ok(served.includes(path), `${path} is not a route of the app`);
      assert.equal(containerPort(container, get['port']), config.http.port, `${probe} port`);
    }
  });

  it('exposes only the API port through the Service; metrics are not behind it', () => {
    const ports = asList(at(single(objects, 'Service'), 'spec.ports'), 'Service ports').map((p) =>
      asMap(p, 'Service port'),
    );
    assert.deepEqual(
      ports.map((p) => containerPort(container, p['targetPort'])),
      [config.http.port],
    );
  });

  it('scrapes the metrics port of the pods with a PodMonitor, as the job the rules expect', () => {
    const endpoints = asList(at(single(objects, 'PodMonitor'), 'spec.podMetricsEndpoints'), 'podMetricsEndpoints').map(
      (e) => asMap(e, 'endpoint'),
    );
    assert.equal(endpoints.length, 1);
    const endpoint = endpoints[0]!;
    assert.equal(endpoint['port'], 'metrics');
    assert.equal(containerPort(container, 'metrics'), config.metrics.port);
    assert.equal(endpoint['path'] ?? '/metrics', '/metrics');
    const jobs = new Set(
      [...readRepoFile('prometheus/rules/cluster.yml').matchAll(/\bjob="([^"]+)"/g)].map((m) => m[1]),
    );
    assert.ok(jobs.size > 0, 'the rules name a job (AppDown)');
    const relabelings = asList(endpoint['relabelings'] ?? [], 'relabelings').map((r) => asMap(r, 'relabeling'));
    const job = relabelings.find((r) => r['targetLabel'] === 'job' && (r['action'] ?? 'replace') === 'replace');
    assert.ok(job, 'the PodMonitor sets the job label');
    assert.deepEqual([...jobs], [job['replacement']]);
  });

  it('targets the Deployment with the HorizontalPodAutoscaler, and leaves the replica count to it', () => {
    const target = asMap(at(single(objects, 'HorizontalPodAutoscaler'), 'spec.scaleTargetRef'), 'scaleTargetRef');
    assert.deepEqual(target, { apiVersion: deployment.apiVersion, kind: 'Deployment', name: deployment.metadata.name });
    assert.equal(at(deployment, 'spec.replicas'), undefined, 'spec.replicas would fight the autoscaler on every apply');
  });

  it('shares the connection budget live between the pods (APP_REPLICAS=auto), with a reserve for every pod that may start at once', () => {
    const maxReplicas = Number(at(single(objects, 'HorizontalPodAutoscaler'), 'spec.maxReplicas'));
    const surge = surgePods(deployment, maxReplicas);
    assert.equal(
      config.cluster.replicas,
      'auto',
      'a fixed APP_REPLICAS is wrong whenever the autoscaler or a rollout changes the pod count',
    );
    // Each starting pod holds its migration and coordination connections before its first grant covers them.
    const starting = maxReplicas + surge;
    assert.ok(
      config.db.reservedConnections >= 2 * starting + 2,
      `DB_RESERVED_CONNECTIONS ${config.db.reservedConnections} < 2 × ${starting} starting pods + 2 for admins`,
    );
    assert.equal(
      at(deployment, 'spec.strategy.rollingUpdate.maxUnavailable'),
      0,
      'maxUnavailable 0: no pod stops before its replacement is ready',
    );
  });

  it('gives a stopping pod longer than the readiness delay and the drain before SIGKILL', () => {
    const grace = Number(at(deployment, 'spec.template.spec.terminationGracePeriodSeconds'));
    assert.ok(
      config.cluster.readinessDelayMs > 0,
      'a readiness delay, so endpoints are removed before the listener closes',
    );
    assert.ok(
      grace > (config.cluster.shutdownTimeoutMs + config.cluster.readinessDelayMs) / 1000,
      `terminationGracePeriodSeconds ${grace}`,
    );
  });

  it('runs as non-root with a read-only root filesystem, no capabilities, the runtime seccomp profile and resource limits', () => {
    const pod = asMap(at(deployment, 'spec.template.spec.securityContext'), 'pod securityContext');
    const own = asMap(container['securityContext'], 'container securityContext');
    const effective = { ...pod, ...own };
    assert.equal(effective['runAsNonRoot'], true);
    assert.ok(Number(effective['runAsUser']) > 0, 'a numeric non-root user (the kubelet cannot check a user name)');
    assert.equal(effective['readOnlyRootFilesystem'], true);
    assert.equal(effective['allowPrivilegeEscalation'], false);
    assert.deepEqual(at(effective, 'capabilities.drop'), ['ALL']);
    assert.equal(at(effective, 'seccompProfile.type'), 'RuntimeDefault');
    for (const kind of ['requests', 'limits']) {
      for (const resource of ['cpu', 'memory'])
        assert.ok(at(container, `resources.${kind}.${resource}`) !== undefined, `resources.${kind}.${resource}`);
    }
  });

  it('takes DATABASE_URL from a Secret, never from the ConfigMap', () => {
    const variable = asList(container['env'], 'env')
      .map((e) => asMap(e, 'env'))
      .find((e) => e['name'] === 'DATABASE_URL');
    assert.ok(
      variable !== undefined && at(variable, 'valueFrom.secretKeyRef') !== undefined,
      'DATABASE_URL from secretKeyRef',
    );
    for (const map of objects.filter((o) => o.kind === 'ConfigMap'))
      assert.ok(!('DATABASE_URL' in asMap(map['data'] ?? {}, 'data')), map.metadata.name);
  });

  it('carries every rule group of prometheus/rules in PrometheusRules, one per file', () => {
    const files = readdirSync(resolve(repoRoot, 'prometheus/rules')).filter((name) => /\.ya?ml$/.test(name));
    const rules = objects.filter((o) => o.kind === 'PrometheusRule');
    assert.equal(rules.length, files.length);
    for (const file of files) {
      const expected = yaml.load(readRepoFile(`prometheus/rules/${file}`));
      const rule = single(objects, 'PrometheusRule', `mysql-budget-cluster-${file.replace(/\.ya?ml$/, '')}`);
      assert.deepEqual(rule['spec'], expected, `${file} differs from its PrometheusRule: run \`npm run k8s\``);
      const alerts = (text: unknown) => JSON.stringify(text).match(/"alert":"[^"]+"/g) ?? [];
      assert.deepEqual(alerts(rule['spec']), alerts(expected), file);
    }
  });

  it('ships every dashboard of grafana/dashboards, byte for byte, in a ConfigMap the Grafana sidecar loads', () => {
    const maps = objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.['grafana_dashboard'] === '1');
    assert.equal(maps.length, 1);
    const data = asMap(maps[0]!['data'], 'dashboard data');
    const files = readdirSync(resolve(repoRoot, dashboardsDir))
      .filter((name) => name.endsWith('.json'))
      .sort();
    assert.deepEqual(
      Object.keys(data).sort(),
      files,
      'every dashboard file, and nothing else (list new ones in grafana/kustomization.yaml)',
    );
    for (const file of files)
      assert.ok(data[file] === readRepoFile(`${dashboardsDir}/${file}`), `${file} differs from its ConfigMap copy`);
    // kubectl apply keeps the whole object in an annotation, which may not exceed 256 KiB.
    assert.ok(
      JSON.stringify(data).length < 256 * 1024,
      'dashboards too large for client-side kubectl apply: use --server-side',
    );
  });
});

// Needs no kubectl: runs wherever the tests run.
describe('Kubernetes PrometheusRules (deploy/kubernetes/generated)', () => {
  it('has the committed PrometheusRules equal to what `npm run k8s` generates from prometheus/rules', () => {
    const generated = prometheusRulesManifest(repoRoot, readdirSync, (file) => readFileSync(file, 'utf8'));
    assert.equal(readRepoFile(generated.path), generated.text, `${generated.path} is stale: run \`npm run k8s\``);
  });
});
