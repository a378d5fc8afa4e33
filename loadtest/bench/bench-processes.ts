import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { freePort } from '../../harness/free-port.js';
import { request } from '../../harness/http-client.js';
import { scrape } from '../../harness/scrape.js';

/** Starting the product and the baseline for benchmarks, without parsing their logs on the bench's CPU. */

export async function startProduct(env: Record<string, string>): Promise<ClusterProcess> {
  const cluster = await startCluster({ LOG_LEVEL: 'info', ...env }, { discardLogs: true });
  const workers = Number(env['WORKERS'] ?? 2);
  for (let attempt = 0; attempt < 300; attempt++) {
    const ready = await scrape(`http://127.0.0.1:${cluster.metricsPort}/metrics`).then(
      (result) => result.sum('cluster_workers', { state: 'ready' }),
      () => 0,
    );
    if (ready === workers) return cluster;
    if (cluster.child.exitCode !== null) break;
    await sleep(100);
  }
  await cluster.stop();
  throw new Error(`the product did not become ready: ${cluster.stderr.slice(-5).join('\n')}`);
}

/** A value from the product's /metrics, e.g. `db_pool_budget_per_worker_connections`. */
export async function metricValue(cluster: ClusterProcess, name: string): Promise<number> {
  return (await scrape(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).sum(name);
}

export interface BaselineProcess {
  readonly url: string;
  /** The baseline's primary, whose children are its workers. */
  readonly pid: number;
  stop(): Promise<void>;
}

/** The hand-written koa + mysql2 server of loadtest/baseline/ (MODE=pool or per-request). */
export async function startBaseline(env: Record<string, string>): Promise<BaselineProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [resolve(__dirname, '../baseline/baseline-server.js')], {
    env: { PATH: process.env['PATH'] ?? '', ...env, PORT: String(port) },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    if ((await request(`${url}/healthz`).catch(() => undefined))?.status === 200) {
      return { url, pid: child.pid ?? 0, stop };
    }
    await sleep(100);
  }
  await stop();
  throw new Error('the baseline server did not start');
}

/** Registers (if needed) and logs in one user through the product; returns a bearer token. */
export async function benchToken(productUrl: string): Promise<string> {
  const credentials = { email: 'bench@example.com', password: 'bench-password' };
  await request(`${productUrl}/api/users`, { method: 'POST', json: { ...credentials, name: 'Bench' } });
  const login = await request(`${productUrl}/api/login`, { method: 'POST', json: credentials });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  return String(login.body['token']);
}
