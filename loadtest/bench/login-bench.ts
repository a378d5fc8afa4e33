import mysql from 'mysql2/promise';
import { createPasswordHasher } from '../../server/auth/password-hasher.js';
import { request } from '../../harness/http-client.js';
import { globalStatus } from '../../harness/test-database.js';
import { startThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { benchToken, startBaseline, startProduct } from './bench-processes.js';
import { processTreeCpu } from './process-cpu.js';
import { runSteadyLoad, type LoadResult } from './steady-load.js';
import { ratioSummary } from './overhead-bench.js';

/** CPU per login sent (all of them finish), in ms, while one server is under the login load, by whom it was spent. */
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
  /**
   * Statements the logins ran, by MySQL's Com_stmt_execute (every statement of a login is a prepared one), ÷ every
   * login sent: drained, the last ones, still in flight when the time was up, finish without being counted as
   * successful. Less the same counter's background at its idle rate (a server of its own).
   */
  readonly statementsPerLogin: number;
  /**
   * Everything MySQL was asked (Questions) ÷ logins sent, the same way: beside the logins' statements, what does not
   * grow with them (each pool's check, once a second while it hands out connections, of which server takes writes;
   * a new connection's identity and its statements prepared).
   */
  readonly questionsPerLogin: number;
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
  readonly questionsPerLogin: { readonly median: number; readonly text: string };
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
 * rate, with at most 4 statements per login by MySQL's own counters, on a MariaDB of its own.
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
    // Each run lets its last logins finish: cut off, the product would abandon them (a KILL, a new connection and
    // its statements prepared again), which is not what a login costs.
    const login = {
      drain: true,
      url: `${cluster.url}/api/login`,
      connections: options.connections,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench@example.com', password: 'bench-password' }),
    };
    // An account of its own, so that neither server's attempts are ever counted against the other's.
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
      // Drained, every login sent was done within the reading, the last ones after the run's time was up.
      const logins = Math.max(1, load.sent);
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
      // While scrypt runs alone the servers idle: what MySQL counts then is the background (the primary's and the
      // pools' own statements), taken off what it counts under load at the same rate. Reading the counters is two
      // statements (Questions counts both by the time it is read; Com_stmt_execute neither).
      const counters = async () => ({
        executed: await globalStatus(admin, 'Com_stmt_execute'),
        questions: await globalStatus(admin, 'Questions'),
        at: performance.now(),
      });
      const since = async (before: Awaited<ReturnType<typeof counters>>) => {
        const after = await counters();
        return {
          executed: after.executed - before.executed,
          questions: after.questions - before.questions - 2,
          ms: after.at - before.at,
        };
      };
      const idleBefore = await counters();
      const rawKdfPerSecond = await rawKdfRate(options.hashCost, options.durationSeconds);
      const idle = await since(idleBefore);
      const runProduct = async () => {
        const before = await counters();
        const { load, cpu } = await withCpu(cluster.child.pid ?? 0, () =>
          runSteadyLoad({ ...login, durationSeconds: options.durationSeconds }),
        );
        const run = await since(before);
        const background = (count: number) => (count * run.ms) / idle.ms;
        const statements = run.executed - background(idle.executed);
        const questions = run.questions - background(idle.questions);
        return { load, cpu, statements, questions };
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
        return { hand, cpu };
      };
      // The two servers take turns going first, so neither always runs in the other's wake.
      const first = round % 2 === 0 ? await runProduct() : undefined;
      const { hand, cpu: baselineCpu } = await runHandWritten();
      const { load, statements, questions, cpu: productCpu } = first ?? (await runProduct());
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
        statementsPerLogin: statements / Math.max(1, load.sent),
        questionsPerLogin: questions / Math.max(1, load.sent),
      });
    }
    return {
      hashCost: options.hashCost,
      rounds,
      ratio: ratioSummary(rounds.map((r) => r.loginsPerSecond / r.rawKdfPerSecond)),
      baselineRatio: ratioSummary(rounds.map((r) => r.baselineLoginsPerSecond / r.rawKdfPerSecond)),
      versusBaseline: ratioSummary(rounds.map((r) => r.loginsPerSecond / r.baselineLoginsPerSecond)),
      statementsPerLogin: ratioSummary(rounds.map((r) => r.statementsPerLogin)),
      questionsPerLogin: ratioSummary(rounds.map((r) => r.questionsPerLogin)),
    };
  } finally {
    await baseline.stop();
    await cluster.stop();
    await admin.end();
    await mariadb.destroy();
  }
}
