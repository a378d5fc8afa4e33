import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster, type ClusterProcess, type LogLine } from '../../harness/cluster-process.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import type { Sample } from '../../harness/traffic.js';

/* Shared by the chaos tests (faults under load, overload): the stack, users, log lookups, one-line figures. */

export { isAlive, lines } from '../../harness/cluster-process.js';
export { password, signUp } from '../helpers/sign-up.js';

/** pino's `time` (ISO, ms precision) as epoch ms: when the cluster wrote the line, not when the test read it. */
export const timeOf = (line: LogLine): number => Date.parse(String(line['time']));

/**
 * requestId → pid of the worker that logged the request, once every answered sample's request line is in: workers
 * buffer request lines for up to LOG_REQUEST_FLUSH_MS (1 s by default), so the last ones arrive after the load.
 */
export async function answeredBy(
  cluster: ClusterProcess,
  samples: readonly Sample[],
  timeoutMs = 5000,
): Promise<Map<string, number>> {
  const byId = new Map<string, number>();
  const wanted = samples.filter((s) => s.status !== undefined).map((s) => s.requestId);
  const deadline = Date.now() + timeoutMs;
  let read = 0;
  for (;;) {
    for (const line of cluster.logs.slice(read))
      if (line.msg === 'request') byId.set(String(line['requestId']), Number(line.pid));
    read = cluster.logs.length;
    if (wanted.every((id) => byId.has(id)) || Date.now() > deadline) return byId;
    await sleep(100);
  }
}

export const ok = (s: Sample): boolean => s.status === 200;

/** A short description of failed samples for assertion messages. */
export function describeFailures(samples: readonly Sample[], limit = 10): string {
  return samples
    .slice(0, limit)
    .map((s) => `${s.path} → ${s.error ?? s.status} after ${Math.round(s.ms)} ms ${s.body.slice(0, 120)}`)
    .join('\n');
}

/** The one-line summary each chaos test prints, for the report. */
export function figures(name: string, values: Record<string, unknown>): void {
  const text = Object.entries(values)
    .map(
      ([key, value]) =>
        `${key}=${typeof value === 'number' ? Math.round(value * 10) / 10 : typeof value === 'object' ? JSON.stringify(value) : String(value)}`,
    )
    .join(' ');
  console.log(`      [chaos] ${name}: ${text}`);
}

/** A cluster on a throwaway MariaDB of its own, started before the suite's tests and stopped after them. */
export interface ClusterStack {
  readonly mariadb: ThrowawayMariadb;
  readonly cluster: ClusterProcess;
}

/**
 * Registers the suite's before and after hooks for a cluster (`env` beside the server's DATABASE_URL) on a throwaway
 * MariaDB; the returned stack is there once the suite's tests run.
 */
export function clusterOnThrowawayMariadb(env: Record<string, string>): ClusterStack {
  let mariadb: ThrowawayMariadb | undefined;
  let cluster: ClusterProcess | undefined;
  before(async () => {
    mariadb = await startThrowawayMariadb();
    cluster = await startCluster({ DATABASE_URL: mariadb.url, ...env });
  });
  after(async () => {
    await cluster?.stop();
    await mariadb?.destroy();
  });
  return {
    get mariadb() {
      if (!mariadb) throw new Error('the stack is started by the suite’s before hook');
      return mariadb;
    },
    get cluster() {
      if (!cluster) throw new Error('the stack is started by the suite’s before hook');
      return cluster;
    },
  };
}
