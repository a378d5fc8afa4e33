import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import yaml from 'js-yaml';
import { freePort } from '../../harness/free-port.js';
import { repoRoot } from '../../harness/repo-root.js';

/*
 * A real Prometheus (Debian's /usr/bin/prometheus) for tests: temp storage, a free loopback port, a config
 * written by the test. Used to prove that the dashboard's queries and the shipped alert rules work against
 * the real cluster, since neither Grafana nor Docker can run here.
 */

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface PromAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: 'pending' | 'firing' | 'inactive';
  readonly value: string;
}

export interface PromTarget {
  readonly labels: Record<string, string>;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
  readonly scrapeUrl: string;
}

export interface PrometheusServer {
  readonly url: string;
  readonly port: number;
  /** Instant query at "now". Rejects when Prometheus answers an error (bad PromQL, timeout...). */
  query(expr: string): Promise<PromSample[]>;
  /** Alerts currently pending or firing (`/api/v1/alerts`). */
  alerts(): Promise<PromAlert[]>;
  targets(): Promise<PromTarget[]>;
  /** The last lines Prometheus logged, for failure messages. */
  logTail(): string;
  /** SIGTERM (SIGKILL after 5 s), then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** prometheus.yml; a function receives Prometheus's own address (for its self-scrape target). */
  readonly configYaml: string | ((self: { host: string; port: number }) => string);
  readonly extraArgs?: readonly string[];
}

const binary = process.env['PROMETHEUS_BIN'] ?? 'prometheus';
const readyTimeoutMs = 15_000;

export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await startOnce(port, options);
    } catch (error) {
      // Another process may have taken the port between freePort() and the bind.
      if (attempt < 3 && error instanceof Error && /address already in use/i.test(error.message)) continue;
      throw error;
    }
  }
}

async function startOnce(port: number, options: StartPrometheusOptions): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'test-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  const config =
    typeof options.configYaml === 'function' ? options.configYaml({ host: '127.0.0.1', port }) : options.configYaml;
  writeFileSync(configFile, config);
  const log: string[] = [];
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      '--storage.tsdb.retention.time=1h',
      `--web.listen-address=127.0.0.1:${port}`,
      ...(options.extraArgs ?? []),
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const collect = (chunk: Buffer) => {
    log.push(
      ...chunk
        .toString('utf8')
        .split('\n')
        .filter((line) => line !== ''),
    );
    if (log.length > 400) log.splice(0, log.length - 400);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<string>((done) => {
    child.once('error', (error) => done(`failed to start ${binary}: ${error.message}`));
    child.once('exit', (code, signal) => done(`exited with code ${code} signal ${signal}`));
  });
  let exitInfo: string | undefined;
  void exited.then((info) => (exitInfo = info));
  // Never leave a Prometheus running after the test process.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const url = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  const server: PrometheusServer = {
    url,
    port,
    async query(expr) {
      const body = await api<{ resultType: string; result: unknown }>(
        url,
        '/api/v1/query',
        new URLSearchParams({ query: expr }),
      );
      if (body.resultType === 'scalar') {
        const [, value] = body.result as [number, string];
        return [{ metric: {}, value: Number(value) }];
      }
      if (body.resultType !== 'vector') throw new Error(`${expr}: unexpected result type ${body.resultType}`);
      return (body.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({
        metric: s.metric,
        value: Number(s.value[1]),
      }));
    },
    async alerts() {
      return (await api<{ alerts: PromAlert[] }>(url, '/api/v1/alerts')).alerts;
    },
    async targets() {
      return (await api<{ activeTargets: PromTarget[] }>(url, '/api/v1/targets?state=active')).activeTargets;
    },
    logTail: () => log.slice(-30).join('\n'),
    stop() {
      stopped ??= (async () => {
        if (exitInfo === undefined) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        process.off('exit', killOnExit);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };

  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline && exitInfo === undefined) {
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return server;
    await sleep(50);
  }
  const why = exitInfo ?? `not ready after ${readyTimeoutMs} ms`;
  await server.stop();
  throw new Error(`prometheus on 127.0.0.1:${port} ${why}\n${log.slice(-30).join('\n')}`);
}

async function api<T>(url: string, path: string, form?: URLSearchParams): Promise<T> {
  const response = await fetch(`${url}${path}`, form ? { method: 'POST', body: form } : {});
  const body = (await response.json()) as { status: string; data: T; error?: string; errorType?: string };
  if (body.status !== 'success')
    throw new Error(`prometheus ${path} ${form?.get('query') ?? ''}: ${body.errorType}: ${body.error}`);
  return body.data;
}

export interface TestConfigOptions {
  /** Where each scrape job of prometheus/prometheus.yml is to be found in the test, e.g. { app: '127.0.0.1:9464' }. */
  readonly targets: Readonly<Record<string, string>>;
  /** Absolute rule-file globs; by default the repository's prometheus/rules/*.yml. */
  readonly ruleFiles?: readonly string[];
  readonly scrapeInterval?: string;
  readonly evaluationInterval?: string;
}

/**
 * A test copy of the shipped prometheus/prometheus.yml: the same jobs and rules, with every job's target
 * rewritten to a loopback address and shorter intervals. A job the shipped config does not define is an
 * error, so the test copy cannot silently diverge from what docker-compose runs.
 */
export function testPrometheusConfig(options: TestConfigOptions): string {
  const shipped = yaml.load(readFileSync(resolve(repoRoot, 'prometheus/prometheus.yml'), 'utf8')) as {
    global?: Record<string, unknown>;
    rule_files?: string[];
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  };
  const jobs = shipped.scrape_configs.map((job) => job.job_name);
  for (const job of Object.keys(options.targets)) {
    if (!jobs.includes(job))
      throw new Error(`prometheus/prometheus.yml has no scrape job "${job}" (it has ${jobs.join(', ')})`);
  }
  const interval = options.scrapeInterval ?? '1s';
  const config = {
    ...shipped,
    global: {
      ...shipped.global,
      scrape_interval: interval,
      scrape_timeout: interval,
      evaluation_interval: options.evaluationInterval ?? interval,
    },
    rule_files: options.ruleFiles ?? (shipped.rule_files ?? []).map((glob) => resolve(repoRoot, 'prometheus', glob)),
    scrape_configs: shipped.scrape_configs
      .filter((job) => options.targets[job.job_name] !== undefined)
      .map((job) => ({ ...job, static_configs: [{ targets: [options.targets[job.job_name]!] }] })),
  };
  return yaml.dump(config);
}
