import mysql from 'mysql2/promise';
import { createPasswordHasher } from '../../server/auth/password-hasher.js';
import { globalStatus } from '../../harness/test-database.js';
import { startThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { benchToken, startProduct } from './bench-processes.js';
import { runSteadyLoad } from './steady-load.js';
import { ratioSummary } from './overhead-bench.js';

export interface LoginRound {
  readonly rawKdfPerSecond: number;
  readonly loginsPerSecond: number;
  readonly loginP99Ms: number;
  readonly sentLogins: number;
  readonly failedLogins: number;
  /** MySQL's global Questions over the round, less the same time idle, ÷ successful logins (a server of its own). */
  readonly statementsPerLogin: number;
}

export interface LoginResult {
  readonly hashCost: number;
  readonly rounds: readonly LoginRound[];
  readonly ratio: { readonly median: number; readonly text: string };
  readonly statementsPerLogin: { readonly median: number; readonly text: string };
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
  try {
    await benchToken(cluster.url); // registers the user
    const login = {
      url: `${cluster.url}/api/login`,
      connections: options.connections,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench@example.com', password: 'bench-password' }),
    };
    await runSteadyLoad({ ...login, durationSeconds: 2 });
    const rounds: LoginRound[] = [];
    for (let round = 0; round < options.rounds; round++) {
      // While scrypt runs alone the product idles: what MySQL counts then is the background (the primary's and the
      // pools' own statements), taken off what it counts under load. Each Questions read is one statement itself.
      const idleBefore = await globalStatus(admin, 'Questions');
      const rawKdfPerSecond = await rawKdfRate(options.hashCost, options.durationSeconds);
      const background = (await globalStatus(admin, 'Questions')) - idleBefore - 1;
      const questionsBefore = await globalStatus(admin, 'Questions');
      const load = await runSteadyLoad({ ...login, durationSeconds: options.durationSeconds });
      const statements = (await globalStatus(admin, 'Questions')) - questionsBefore - 1 - background;
      rounds.push({
        rawKdfPerSecond,
        loginsPerSecond: load.ok / options.durationSeconds,
        loginP99Ms: load.p99Ms,
        sentLogins: load.sent,
        failedLogins: load.failed,
        statementsPerLogin: statements / Math.max(1, load.ok),
      });
    }
    return {
      hashCost: options.hashCost,
      rounds,
      ratio: ratioSummary(rounds.map((r) => r.loginsPerSecond / r.rawKdfPerSecond)),
      statementsPerLogin: ratioSummary(rounds.map((r) => r.statementsPerLogin)),
    };
  } finally {
    await cluster.stop();
    await admin.end();
    await mariadb.destroy();
  }
}
