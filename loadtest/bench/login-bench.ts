import { createPasswordHasher } from '../../server/auth/password-hasher.js';
import { testDatabaseUrl } from '../../harness/test-database.js';
import { benchToken, startProduct } from './bench-processes.js';
import { runAutocannon } from './autocannon-load.js';

export interface LoginResult {
  readonly hashCost: number;
  readonly rawKdfPerSecond: number;
  readonly loginsPerSecond: number;
  readonly loginP99Ms: number;
  readonly sentLogins: number;
  readonly failedLogins: number;
  readonly ratio: number;
}

/** scrypt hashes per second on this machine's cores, with libuv's thread pool kept busy. */
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
 * Benchmark 3: login throughput through the product vs the raw KDF rate on the same cores.
 * Every login costs one scrypt verification; target ≥ 0.9× the raw rate.
 */
export async function loginBench(options: {
  workers: number;
  connections: number;
  durationSeconds: number;
  hashCost: number;
}): Promise<LoginResult> {
  const rawKdfPerSecond = await rawKdfRate(options.hashCost, Math.min(options.durationSeconds, 5));
  const cluster = await startProduct({
    WORKERS: String(options.workers),
    DATABASE_URL: process.env['BENCH_DATABASE_URL'] ?? testDatabaseUrl('app_bench_login'),
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
    await runAutocannon({ ...login, durationSeconds: 2 });
    const load = await runAutocannon({ ...login, durationSeconds: options.durationSeconds });
    const loginsPerSecond = load.ok / options.durationSeconds;
    return {
      hashCost: options.hashCost,
      rawKdfPerSecond,
      loginsPerSecond,
      loginP99Ms: load.p99Ms,
      sentLogins: load.sent,
      failedLogins: load.failed,
      ratio: loginsPerSecond / rawKdfPerSecond,
    };
  } finally {
    await cluster.stop();
  }
}
