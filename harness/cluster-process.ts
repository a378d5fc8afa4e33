import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.js';
import { repoRoot } from './repo-root.js';

export type LogLine = Record<string, unknown> & { msg?: string; pid?: number; role?: string; worker?: number };

export interface ClusterProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  readonly metricsPort: number;
  /** Every JSON line the cluster printed so far (primary and workers share stdout). */
  readonly logs: LogLine[];
  readonly stderr: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first line (already printed or future) matching `predicate`. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number, after?: number): Promise<LogLine>;
  /** PIDs of workers that logged "worker ready" and have not logged an exit. */
  readyWorkerPids(): number[];
  /** The exit, or undefined if the cluster is still running after `ms`. */
  exitWithin(ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>;
  /** SIGTERM, wait; SIGKILL after `graceMs`. Safe to call after the process exited. */
  stop(graceMs?: number): Promise<void>;
}

const mainScript = resolve(repoRoot, 'dist/server/main.js');

/**
 * Starts the real cluster (`node dist/server/main.js`) as a child process on free loopback ports.
 * It runs in a temp cwd so a developer's .env never leaks into a test.
 */
export interface StartClusterOptions {
  /** Wait for the "cluster ready" log line (default true). */
  readonly waitForReady?: boolean;
  /** Send stdout to /dev/null instead of parsing it (benchmarks: the parsing would compete for CPU). */
  readonly discardLogs?: boolean;
  /**
   * Start the primary in a process group of its own (its workers join it), so a test can signal the whole group as
   * a terminal hang-up, `systemctl kill` or a paused container does: `process.kill(-cluster.child.pid, signal)`.
   */
  readonly detached?: boolean;
  /**
   * A command the cluster runs under, e.g. `['strace', '-f', …]`: `child` is then that command's process, and the
   * primary's pid is the `pid` of its log lines.
   */
  readonly wrapper?: readonly string[];
}

export async function startCluster(
  env: Record<string, string>,
  options: StartClusterOptions = {},
): Promise<ClusterProcess> {
  const port = Number(env['PORT'] ?? (await freePort()));
  const metricsPort = Number(env['METRICS_PORT'] ?? (await freePort()));
  const argv = [...(options.wrapper ?? []), process.execPath, '--enable-source-maps', mainScript];
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: tmpdir(),
    env: {
      PATH: process.env['PATH'] ?? '',
      // Node passes a coverage run's NODE_V8_COVERAGE to every child unless the child's environment names it: the
      // cluster under test runs as it ships, at full speed and writing no coverage file.
      NODE_V8_COVERAGE: '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      PASSWORD_HASH_COST: '10',
      ENABLE_TEST_ROUTES: 'true',
      SHUTDOWN_TIMEOUT_MS: '8000',
      ...env,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
    },
    stdio: ['ignore', options.discardLogs ? 'ignore' : 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  const waiters = new Set<{ predicate: (line: LogLine) => boolean; after: number; resolve: (line: LogLine) => void }>();
  if (child.stdout)
    createInterface({ input: child.stdout }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: text, raw: true };
      }
      logs.push(line);
      for (const waiter of waiters) {
        if (logs.length - 1 >= waiter.after && waiter.predicate(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    });
  createInterface({ input: child.stderr! }).on('line', (text) => stderr.push(text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  // Never leave a cluster running after the test process (nor, when it has its own group, its workers).
  const killOnExit = () => {
    if (options.detached) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    } else child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  const cluster: ClusterProcess = {
    child,
    port,
    metricsPort,
    url: `http://127.0.0.1:${port}`,
    logs,
    stderr,
    exited,
    waitForLog(predicate, timeoutMs = 15_000, after = 0) {
      const seen = logs.slice(after).find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolveLine, reject) => {
        const waiter = {
          predicate,
          after,
          resolve: (line: LogLine) => {
            clearTimeout(timer);
            resolveLine(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `no matching log line within ${timeoutMs} ms; last lines:\n${logs
                .slice(-8)
                .map((l) => JSON.stringify(l))
                .join('\n')}\nstderr:\n${stderr.slice(-8).join('\n')}`,
            ),
          );
        }, timeoutMs);
        waiters.add(waiter);
        // The exit can be seen before the last output is read: give the pipes a moment, so the error shows why.
        void exited
          .then(() => sleep(500))
          .then(() => {
            if (!waiters.has(waiter)) return;
            waiters.delete(waiter);
            clearTimeout(timer);
            reject(
              new Error(
                `cluster exited (code ${child.exitCode}, signal ${child.signalCode}) before a matching log line; last lines:\n${logs
                  .slice(-8)
                  .map((l) => JSON.stringify(l))
                  .join('\n')}\nstderr:\n${stderr.slice(-8).join('\n')}`,
              ),
            );
          });
      });
    },
    readyWorkerPids() {
      const exitedPids = new Set(
        logs
          .filter((l) => l.msg === 'worker exited' || l.msg === 'worker died; restarting')
          .map((l) => Number(l['workerPid'])),
      );
      const pids = logs.filter((l) => l.msg === 'worker ready').map((l) => Number(l.pid));
      return [...new Set(pids)].filter((pid) => !exitedPids.has(pid) && isAlive(pid));
    },
    async exitWithin(ms) {
      const timer = new AbortController();
      try {
        return await Promise.race([exited, sleep(ms, undefined, { signal: timer.signal })]);
      } finally {
        timer.abort();
      }
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  if ((options.waitForReady ?? true) && !options.discardLogs)
    await cluster.waitForLog((line) => line.msg === 'cluster ready', 20_000);
  return cluster;
}

/** Lines the cluster printed with this `msg`, from line index `from` on. */
export const lines = (cluster: ClusterProcess, msg: string, from = 0): LogLine[] =>
  cluster.logs.slice(from).filter((l) => l.msg === msg);

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
