import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { createPasswordHasher } from '../../server/auth/password-hasher.js';
import { request } from '../../harness/http-client.js';
import { globalStatus } from '../../harness/test-database.js';
import { startThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { benchToken, startBaseline, startProduct } from './bench-processes.js';
import { processTreeCpu } from './process-cpu.js';
import { runSteadyLoad, type LoadResult } from './steady-load.js';
import { ratioSummary } from './overhead-bench.js';

/** CPU per successful login, in ms, while one server is under the login load, by whom it was spent. */
export interface LoginCpu {
  /** The server's main threads (its primary's and its workers' event loops). */
  readonly eventLoops: number;
  /** The server's other threads: libuv's pool (the hash), V8's (the garbage collector, the compiler). */
  readonly otherThreads: number;
  readonly mariadb: number;
  /** This process, which drives the load. */
  readonly loadGenerator: number;
}

export interface LoginRound {
  readonly rawKdfPerSecond: number;
  readonly loginsPerSecond: number;
  readonly loginP99Ms: number;
  /** The hand-written koa + mysql2 login (loadtest/baseline/) on the same statements, workers and cores. */
  readonly baselineLoginsPerSecond: number;
  readonly baselineP99Ms: number;
  readonly productCpu: LoginCpu;
  readonly baselineCpu: LoginCpu;
  readonly sentLogins: number;
  readonly failedLogins: number;
  /** MySQL's global Questions over the round, less the same time idle, ÷ successful logins (a server of its own). */
  readonly statementsPerLogin: number;
  /**
   * The same statements ÷ every login sent. The logins still in flight when a run ends were sent their first
   * statements but are not among the successful ones: at most 4 per login holds exactly when this is ≤ 4.
   */
  readonly statementsPerLoginSent: number;
}

export interface LoginResult {
  readonly hashCost: number;
  readonly rounds: readonly LoginRound[];
  readonly ratio: { readonly median: number; readonly text: string };
  /** The hand-written login ÷ raw scrypt: what the same statements cost without the product's machinery. */
  readonly baselineRatio: { readonly median: number; readonly text: string };
  /** The product's logins ÷ the hand-written login's, round by round. */
  readonly versusBaseline: { readonly median: number; readonly text: string };
  readonly statementsPerLogin: { readonly median: number; readonly text: string };
  readonly statementsPerLoginSent: { readonly median: number; readonly text: string };
}

/** scrypt verifications per second on this machine's cores, with libuv's thread pool kept busy. */
async function rawKdfRate(cost: number, seconds: number): Promise<number> {
  const hasher = await createPasswordHasher({ cost });
  const stored = await hasher.hash('bench-password');
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const lane = async () => {
    while (performance.now() < deadline) {
      await hasher.verify('bench-password', stored);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: 4 }, lane));
  return done / ((performance.now() - started) / 1000);
}

/**
 * Benchmark 3: login throughput through the product vs raw scrypt on the same cores, alternating in each round
 * (the product idles while scrypt runs alone). Every login costs one scrypt verification; target ≥ 0.9× the raw
 * rate, with at most 4 statements per successful login by MySQL's own Questions counter, on a MariaDB of its own.
 * A third row, the hand-written koa + mysql2 login running the same statements, shows what the statements, HTTP,
 * MariaDB and the load generator cost on these cores beside the hash without any of the product's machinery: its
 * ratio is reported, not a target.
 */
export async function loginBench(options: {
  workers: number;
  connections: number;
  durationSeconds: number;
  rounds: number;
  hashCost: number;
}): Promise<LoginResult> {
  const mariadb = await startThrowawayMariadb();
  const admin = await mysql.createConnection(mariadb.url);
  const cluster = await startProduct({
    WORKERS: String(options.workers),
    DATABASE_URL: mariadb.url,
    PASSWORD_HASH_COST: String(options.hashCost),
  });
  const baseline = await startBaseline({
    WORKERS: String(options.workers),
    DATABASE_URL: mariadb.url,
    MODE: 'pool',
  });
  try {
    await benchToken(cluster.url); // registers the user
    const login = {
      url: `${cluster.url}/api/login`,
      connections: options.connections,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench@example.com', password: 'bench-password' }),
    };
    // An account of its own: the product abandons the logins still in flight when a run ends, counted and never
    // cleared, and those counts must not throttle the other server's run.
    const handWritten = { email: 'hand-written@example.com', password: 'bench-password' };
    await request(`${cluster.url}/api/users`, { method: 'POST', json: { ...handWritten, name: 'Hand' } });
    const baselineLogin = { ...login, url: `${baseline.url}/api/login`, body: JSON.stringify(handWritten) };
    await runSteadyLoad({ ...login, durationSeconds: 2 });
    await runSteadyLoad({ ...baselineLogin, durationSeconds: 2 });
    const withCpu = async (serverPid: number, run: () => Promise<LoadResult>) => {
      const mariadbPid = mariadb.pid ?? 0;
      const [server, database, generator] = [processTreeCpu(serverPid), processTreeCpu(mariadbPid), process.cpuUsage()];
      const load = await run();
      const [serverAfter, databaseAfter] = [processTreeCpu(serverPid), processTreeCpu(mariadbPid)];
      const generatorUsed = process.cpuUsage(generator);
      const logins = Math.max(1, load.ok);
      const cpu: LoginCpu = {
        eventLoops: (serverAfter.mainThreadsMs - server.mainThreadsMs) / logins,
        otherThreads: (serverAfter.otherThreadsMs - server.otherThreadsMs) / logins,
        mariadb:
          (databaseAfter.mainThreadsMs +
            databaseAfter.otherThreadsMs -
            database.mainThreadsMs -
            database.otherThreadsMs) /
          logins,
        loadGenerator: (generatorUsed.user + generatorUsed.system) / 1000 / logins,
      };
      return { load, cpu };
    };
    const rounds: LoginRound[] = [];
    for (let round = 0; round < options.rounds; round++) {
      // While scrypt runs alone the product idles: what MySQL counts then is the background (the primary's and the
      // pools' own statements), taken off what it counts under load. Each Questions read is one statement itself.
      const idleBefore = await globalStatus(admin, 'Questions');
      const rawKdfPerSecond = await rawKdfRate(options.hashCost, options.durationSeconds);
      const background = (await globalStatus(admin, 'Questions')) - idleBefore - 1;
      const runProduct = async () => {
        const questionsBefore = await globalStatus(admin, 'Questions');
        const { load, cpu } = await withCpu(cluster.child.pid ?? 0, () =>
          runSteadyLoad({ ...login, durationSeconds: options.durationSeconds }),
        );
        const statements = (await globalStatus(admin, 'Questions')) - questionsBefore - 1 - background;
        return { load, cpu, statements };
      };
      const runHandWritten = async () => {
        const { load: hand, cpu } = await withCpu(baseline.pid, () =>
          runSteadyLoad({ ...baselineLogin, durationSeconds: options.durationSeconds }),
        );
        if (hand.failed > 0) {
          throw new Error(
            `the hand-written login failed ${hand.failed} of ${hand.sent} logins (${hand.non2xx} non-2xx, ${hand.errors} socket errors or timeouts)`,
          );
        }
        // Its logins still in flight when the run ends go on to the end (nothing aborts them), and their statements
        // must not be counted as the product's.
        await sleep(1000);
        return { hand, cpu };
      };
      // The two servers take turns going first, so neither always runs in the other's wake.
      const first = round % 2 === 0 ? await runProduct() : undefined;
      const { hand, cpu: baselineCpu } = await runHandWritten();
      const { load, statements, cpu: productCpu } = first ?? (await runProduct());
      rounds.push({
        productCpu,
        baselineCpu,
        baselineLoginsPerSecond: hand.ok / options.durationSeconds,
        baselineP99Ms: hand.p99Ms,
        rawKdfPerSecond,
        loginsPerSecond: load.ok / options.durationSeconds,
        loginP99Ms: load.p99Ms,
        sentLogins: load.sent,
        failedLogins: load.failed,
        statementsPerLogin: statements / Math.max(1, load.ok),
        statementsPerLoginSent: statements / Math.max(1, load.sent),
      });
    }
    return {
      hashCost: options.hashCost,
      rounds,
      ratio: ratioSummary(rounds.map((r) => r.loginsPerSecond / r.rawKdfPerSecond)),
      baselineRatio: ratioSummary(rounds.map((r) => r.baselineLoginsPerSecond / r.rawKdfPerSecond)),
      versusBaseline: ratioSummary(rounds.map((r) => r.loginsPerSecond / r.baselineLoginsPerSecond)),
      statementsPerLogin: ratioSummary(rounds.map((r) => r.statementsPerLogin)),
      statementsPerLoginSent: ratioSummary(rounds.map((r) => r.statementsPerLoginSent)),
    };
  } finally {
    await baseline.stop();
    await cluster.stop();
    await admin.end();
    await mariadb.destroy();
  }
}
