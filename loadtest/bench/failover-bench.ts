import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  failoverFigures,
  missingAccounts,
  prepareUsers,
  startFailoverTopology,
  startMixedLoad,
  switchover,
  unplannedFailover,
  type FailoverFigures,
  type FailoverMoments,
  type FailoverTopology,
} from '../../harness/failover-drill.js';
import { numberFlag } from './bench-flags.js';
import { startProduct } from './bench-processes.js';
import { printTable, writeResult } from './bench-results.js';

/*
 * `npm run bench:failover [-- --runs 3] [--clients 6] [--after 5] [--short 0.5] [--long 2.5]`
 *
 * The service (2 workers, every other setting as shipped) connects as `app` through a moving endpoint to a MariaDB
 * primary and replica (harness/failover-drill.ts) under a mixed closed-loop load (/api/me, registrations, logins),
 * as shipped (DB_FOLLOW_PRIMARY=true) and with the failover features off (DB_FOLLOW_PRIMARY=false), one after the
 * other in the same run, each on a fresh cluster:
 *
 * (a) switchover: the primary read-only, the replica caught up and promoted, the endpoint moves; the old one stays up
 *     read-only. Semi-synchronous pair.
 * (c) failback: the same back to the first server.
 * (b) unplanned: kill -9 of the primary, nothing behind the endpoint for `--short` seconds (less than the acquire
 *     deadline) or `--long` seconds (more), the replica promoted, the endpoint moves. The long one also with
 *     asynchronous replication (accounts lost: 201s the new primary does not have).
 *
 * The clients behave well: after a 503 or 504 each waits its Retry-After before its next request.
 *
 * Per scenario: client-visible failures (5xx or no answer) of reads and writes, the writes in flight at the cut, the
 * first write answered 2xx after the new primary became reachable, the recovery (from then until the last failed
 * request that started after it, at least the first write), the client recovery time (from then until every client
 * had been served again: a client waiting out a Retry-After is served only after it), and how long some client was
 * failing. A variant still failing at the end of the `--after` seconds of observation is shown as "> after". The gains
 * are the ratios of the two variants' figures within each run.
 *
 * Writes loadtest/results/bench-failover.json.
 */

const runs = numberFlag('runs', 3);
const clients = numberFlag('clients', 6);
const afterMs = numberFlag('after', 5) * 1000;
// Not whole seconds: an outage of exactly 2 s lines up with the 1 s acquire deadline and the 1 s Retry-After, and the
// figures then measure that coincidence.
const shortDownMs = numberFlag('short', 0.5) * 1000;
const longDownMs = numberFlag('long', 2.5) * 1000;

const scenarios = [
  'switchover',
  'failback',
  'unplanned, short, semi-sync',
  'unplanned, long, semi-sync',
  'unplanned, long, async',
] as const;
type Scenario = (typeof scenarios)[number];
type Variant = 'as shipped' | 'features off';
const variants: Record<Variant, Record<string, string>> = {
  'as shipped': {},
  'features off': { DB_FOLLOW_PRIMARY: 'false' },
};

interface Row {
  readonly run: number;
  readonly variant: Variant;
  readonly scenario: Scenario;
  readonly figures: FailoverFigures;
  /** The old primary read-only until the endpoint moved, or down until it moved. */
  readonly cutMs: number;
  readonly accountsLost: number;
}

/** One scenario on a fresh cluster: warm up, the event, `afterMs` of observation. */
async function scenario(
  run: number,
  variant: Variant,
  name: Scenario,
  topology: FailoverTopology,
  event: () => Promise<FailoverMoments>,
): Promise<Row> {
  // Logs are not parsed on the bench's CPU: ready when /metrics says so.
  topology.endpoint.moveTo(topology.pair.primary().port);
  const cluster = await startProduct({
    WORKERS: '2',
    DATABASE_URL: topology.databaseUrl,
    LOG_LEVEL: 'warn',
    ...variants[variant],
  });
  try {
    const tag = randomUUID().slice(0, 8);
    const users = await prepareUsers(cluster.url, clients, `bench-${tag}`);
    const load = startMixedLoad(cluster.url, users, {
      clients,
      run: `bench-${tag}`,
      timeoutMs: 30_000,
      honorRetryAfter: true,
    });
    const moments = await sleep(1500)
      .then(event)
      .then(async (seen) => {
        await sleep(afterMs);
        return seen;
      })
      .finally(() => load.stop());
    const ops = await load.stop();
    return {
      run,
      variant,
      scenario: name,
      figures: failoverFigures(ops, moments),
      cutMs: moments.reachableAt - moments.cutAt,
      accountsLost: (await missingAccounts(moments.primary, ops)).length,
    };
  } finally {
    await cluster.stop();
  }
}

async function variantRun(run: number, variant: Variant): Promise<Row[]> {
  const rows: Row[] = [];
  const semiSync = await startFailoverTopology({ semiSync: true });
  try {
    rows.push(await scenario(run, variant, 'switchover', semiSync, () => switchover(semiSync)));
    rows.push(await scenario(run, variant, 'failback', semiSync, () => switchover(semiSync)));
    rows.push(
      await scenario(run, variant, 'unplanned, short, semi-sync', semiSync, () =>
        unplannedFailover(semiSync, shortDownMs),
      ),
    );
  } finally {
    await semiSync.destroy();
  }
  for (const replication of ['semi-sync', 'async'] as const) {
    const topology = await startFailoverTopology({ semiSync: replication === 'semi-sync' });
    try {
      rows.push(
        await scenario(run, variant, `unplanned, long, ${replication}`, topology, () =>
          unplannedFailover(topology, longDownMs),
        ),
      );
    } finally {
      await topology.destroy();
    }
  }
  return rows;
}

const clientRecovery = (r: Row): number =>
  r.figures.stillFailing ? Number.POSITIVE_INFINITY : r.figures.clientRecoveryMs;
const recovery = (r: Row): number =>
  r.figures.stillFailing || r.figures.recoveryMs === undefined ? Number.POSITIVE_INFINITY : r.figures.recoveryMs;
const ms = (value: number | undefined): string =>
  value === undefined || !Number.isFinite(value) ? `> ${afterMs}` : String(Math.round(value));

function line(r: Row): Record<string, string | number> {
  const f = r.figures;
  return {
    run: r.run,
    variant: r.variant,
    scenario: r.scenario,
    requests: f.requests,
    'failed reads': f.failed.read,
    'failed writes': f.failed.register + f.failed.login,
    'writes in flight at cut': f.writesInFlightAtCut,
    '503 / 504 / none': `${f.status503} / ${f.status504} / ${f.unanswered}`,
    'cut ms': r.cutMs,
    'first write ms': ms(f.firstWriteMs),
    'recovery ms': ms(recovery(r)),
    'client recovery ms': ms(clientRecovery(r)),
    'error window ms': Math.round(f.errorWindowMs),
    'accounts lost': r.accountsLost,
  };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
};
const spread = (values: readonly number[]): string =>
  `${ms(median(values))} (${ms(Math.min(...values))}–${ms(Math.max(...values))})`;

/** `other ÷ mine` per run, for a figure where less is better; "no errors" when the service as shipped had none. */
function gains(shipped: readonly Row[], off: readonly Row[], figure: (r: Row) => number): string {
  return shipped
    .map((r) => {
      const other = off.find((o) => o.run === r.run);
      if (!other) return '';
      const mine = figure(r);
      const theirs = figure(other);
      if (!Number.isFinite(mine)) return 'n/a';
      if (mine <= 0) return theirs > 0 ? 'none as shipped' : 'none either way';
      // Still failing at the end of the observation: recovered at the end at the earliest, so "more than".
      return Number.isFinite(theirs) ? `${(theirs / mine).toFixed(1)}×` : `> ${(afterMs / mine).toFixed(0)}×`;
    })
    .join(', ');
}

function summary(rows: readonly Row[]): Record<string, string | number>[] {
  return scenarios.map((name) => {
    const of = (variant: Variant) => rows.filter((r) => r.scenario === name && r.variant === variant);
    const shipped = of('as shipped');
    const off = of('features off');
    const errors = (r: Row) => r.figures.failed.read + r.figures.failed.register + r.figures.failed.login;
    const window = (r: Row) => (r.figures.stillFailing ? Number.POSITIVE_INFINITY : r.figures.errorWindowMs);
    return {
      scenario: name,
      runs: shipped.length,
      'client recovery ms: shipped / off': `${spread(shipped.map(clientRecovery))} / ${spread(off.map(clientRecovery))}`,
      'client recovery gain': gains(shipped, off, clientRecovery),
      'recovery ms: shipped / off': `${spread(shipped.map(recovery))} / ${spread(off.map(recovery))}`,
      'client errors: shipped / off': `${shipped.map(errors).join(', ')} / ${off.map(errors).join(', ')}`,
      'error window ms: shipped / off': `${spread(shipped.map(window))} / ${spread(off.map(window))}`,
      'error window gain': gains(shipped, off, window),
      'first write ms, shipped': spread(shipped.map((r) => r.figures.firstWriteMs ?? Number.POSITIVE_INFINITY)),
      'accounts lost: shipped / off': `${shipped.map((r) => r.accountsLost).join(', ')} / ${off.map((r) => r.accountsLost).join(', ')}`,
    };
  });
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (let run = 1; run <= runs; run++)
    for (const variant of Object.keys(variants) as Variant[]) {
      const done = await variantRun(run, variant);
      for (const row of done) printTable([line(row)]);
      rows.push(...done);
    }
  console.log(
    `\nfailover: ${clients} clients (reads, registrations, logins), 2 workers, settings as shipped; ${shortDownMs / 1000} s (short) and ${longDownMs / 1000} s (long) without a primary in the unplanned cases; clients wait out Retry-After; ${afterMs / 1000} s observed after the endpoint moved; ${runs} runs`,
  );
  printTable(rows.map(line));
  console.log('');
  printTable(summary(rows));
  console.log(`written ${writeResult('bench-failover', { runs, clients, afterMs, shortDownMs, longDownMs, rows })}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
