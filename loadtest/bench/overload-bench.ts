import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import { startThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { send } from '../../harness/traffic.js';
import { startProduct } from './bench-processes.js';
import { numberFlag } from './bench-flags.js';
import { printTable, writeResult } from './bench-results.js';
import { queriesPerLogin, runLoginFlood } from './login-flood.js';

/*
 * `npm run bench:overload [-- --workers N]`: a login flood at 2× and 10× the login capacity measured in the same run,
 * against a throwaway MariaDB. Reports goodput as a share of that capacity (target ≥ 0.9 at 10×), the latency of
 * admitted and shed logins, and how /healthz, /api/me and /metrics answered meanwhile. Writes
 * loadtest/results/bench-overload.json.
 */

const workers = numberFlag('workers', 2);
const password = 'overload-bench-password';

async function main(): Promise<void> {
  const mariadb = await startThrowawayMariadb();
  const admin = await mysql.createConnection(mariadb.url);
  const cluster = await startProduct({ WORKERS: String(workers), DATABASE_URL: mariadb.url, PASSWORD_HASH_COST: '14' });
  try {
    const emails: string[] = [];
    // Enough accounts that the throttle's per-account, per-client limit on logins in flight never applies.
    for (let i = 0; i < 64; i++) {
      const email = `overload-${i}-${randomUUID()}@example.test`;
      const created = await send(
        cluster.url,
        { method: 'POST', path: '/api/users', json: { email, password, name: 'Overload' } },
        { timeoutMs: 10_000 },
      );
      if (created.status !== 201) throw new Error(`sign-up failed: ${created.status} ${created.body}`);
      emails.push(email);
    }
    const questions = async () => {
      const [rows] = await admin.query<mysql.RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Questions'");
      return Number(rows[0]?.['Value']);
    };
    const flood = await runLoginFlood(
      {
        url: cluster.url,
        metricsUrl: `http://127.0.0.1:${cluster.metricsPort}`,
        emails,
        password,
        questions,
        queriesPerLogin,
      },
      [
        { multiple: 2, durationMs: 4000 },
        { multiple: 10, durationMs: 5000 },
      ],
    );
    console.log(
      `bench:overload — capacity ${flood.capacityPerS.toFixed(1)} logins/s (p95 ${flood.capacityP95Ms.toFixed(0)} ms), ${workers} workers`,
    );
    printTable(
      flood.phases.map((p) => {
        const sent = p.samples.length;
        const okCount = p.good.length;
        return {
          flood: `${p.multiple}× capacity`,
          sent,
          '% ok': `${((100 * okCount) / Math.max(1, sent)).toFixed(1)} %`,
          'goodput vs capacity': p.figures.goodputRatio,
          target: p.multiple >= 10 ? '≥ 0.9' : '',
          'ok p95 ms': p.figures.okP95Ms,
          'shed p95 ms': p.figures.shedP95Ms,
          'queries/shed': p.figures.mysqlQueriesPerShed,
          'healthz p99 ms': p.figures.healthzP99Ms,
          'me p99 ms': p.figures.meP99Ms,
          'client cores': p.figures.clientCores,
        };
      }),
    );
    const phases = flood.phases.map(({ multiple, skipped, figures }) => ({ multiple, skipped, ...figures }));
    console.log(`written ${writeResult('bench-overload', { workers, capacityPerS: flood.capacityPerS, phases })}`);
  } finally {
    await cluster.stop();
    await admin.end();
    await mariadb.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
