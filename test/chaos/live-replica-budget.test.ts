import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { startFreezableProxy, type FreezableProxy } from '../helpers/freezable-proxy.js';
import { scrape } from '../../harness/scrape.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { tally, type Sample } from '../../harness/traffic.js';
import { describeFailures, figures, timeOf } from './chaos-fixtures.js';
import { startLoad, startMonitor, type Load } from './replica-budget-monitor.js';

/*
 * APP_REPLICAS=auto with real replicas (each a full cluster: primary + 2 workers) on one MariaDB with
 * max_connections=50 and DB_RESERVED_CONNECTIONS=10, each under light load: scale 1 → 4, kill -9 one (its whole
 * process group), SIGTERM one, cut one off from MySQL (every packet on its path stops, no close anywhere) and bring
 * it back, restart MySQL. A monitor connection (out of the reserve) samples MySQL's PROCESSLIST every 100 ms.
 *
 * The shares, with DB_POOL_MAX=8 and a grant of 1 (the primary's connection) + 3 pools × ceiling, dealt in whole
 * steps of 3: one replica alone wants 25; two get 19 each (ceiling 6), three 13 (ceiling 4), four 10 (ceiling 3) of
 * the 40 usable.
 */

const maxConnections = 50;
const tooMany = /ER_CON_COUNT_ERROR|Too many connections|"errno":1040\b|"code":"1040"/;
const reserve = 10;
const usable = maxConnections - reserve;
const grantsFor: Record<number, number[]> = { 1: [25], 2: [19, 19], 3: [13, 13, 13], 4: [10, 10, 10, 10] };
// Documented bounds (docs/replicas.md), with slack for a 2-core machine running 12 node processes.
const joinWithinMs = 15_000;
const leaveWithinMs = 8_000;
const lapseWithinMs = 20_000;

describe('chaos: replicas share MySQL’s connections live (APP_REPLICAS=auto)', function () {
  this.timeout(240_000);
  let mariadb: ThrowawayMariadb | undefined;
  let proxy: FreezableProxy | undefined;
  const replicas: ClusterProcess[] = [];

  after(async () => {
    await Promise.all(replicas.map((replica) => replica.stop(3000)));
    await proxy?.close();
    await mariadb?.destroy();
  });

  it('keeps every replica within limit − reserve through scale-out, kill -9, SIGTERM, a cut-off and a MySQL restart', async () => {
    mariadb = await startThrowawayMariadb({ maxConnections });
    proxy = await startFreezableProxy({ host: '127.0.0.1', port: mariadb.port });
    const monitor = startMonitor(mariadb);
    const env = (port: number) => ({
      DATABASE_URL: `mysql://root@127.0.0.1:${port}/app`,
      APP_REPLICAS: 'auto',
      WORKERS: '2',
      DB_POOL_MAX: '8',
      DB_RESERVED_CONNECTIONS: String(reserve),
      DB_QUERY_TIMEOUT_MS: '2000',
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    const settledAt = async (expected: number[], withinMs: number, what: string): Promise<number> => {
      const started = Date.now();
      let seen: number[] | undefined;
      while (Date.now() - started < withinMs) {
        seen = await monitor.grants();
        if (JSON.stringify(seen) === JSON.stringify(expected)) return Date.now() - started;
        await sleep(100);
      }
      assert.fail(
        `${what}: grants ${JSON.stringify(seen)} (${monitor.lastError()}) never became ${JSON.stringify(expected)} within ${withinMs} ms; last readings ${JSON.stringify(monitor.readings.slice(-40).map((r) => [r.total, r.registered, r.granted, r.over]))}`,
      );
    };
    const loads: Load[] = [];
    const times: Record<string, number> = {};

    // 1 → 4: the fourth replica reaches MySQL through the proxy, so it can be cut off later.
    replicas.push(await startCluster(env(mariadb.port), { detached: true }));
    loads.push(startLoad(replicas[0]!));
    await settledAt(grantsFor[1]!, joinWithinMs, 'one replica');
    let from = Date.now();
    replicas.push(
      ...(await Promise.all(
        [mariadb.port, mariadb.port, proxy.port].map((port) => startCluster(env(port), { detached: true })),
      )),
    );
    times['startedMs'] = Date.now() - from;
    for (const replica of replicas.slice(1)) loads.push(startLoad(replica));
    times['joinMs'] = (await settledAt(grantsFor[4]!, joinWithinMs, 'scale 1 → 4')) + times['startedMs'];
    // From announcing a claim to its first share: the others shrank (pools confirmed) and it grew into the room.
    const joinedToShare = await Promise.all(
      replicas
        .slice(1)
        .map(
          async (replica) =>
            timeOf(await replica.waitForLog((l) => l.msg === 'replica share agreed', 1000)) -
            timeOf(await replica.waitForLog((l) => l.msg === 'replica joined: announced with no grant yet', 1000)),
        ),
    );
    times['joinToShareMs'] = Math.max(...joinedToShare);
    // Four replicas under load for a while, at their ceilings.
    await sleep(3000);

    // kill -9 the second replica's whole process group: its claim is retired after its lease runs out.
    await loads[1]!.stop();
    from = Date.now();
    process.kill(-replicas[1]!.child.pid!, 'SIGKILL');
    times['crashMs'] = await settledAt(grantsFor[3]!, lapseWithinMs, 'after kill -9');

    // SIGTERM the third: it deletes its claim once its pools are closed.
    await loads[2]!.stop();
    from = Date.now();
    await replicas[2]!.stop();
    times['sigtermMs'] = Date.now() - from;
    times['leaveMs'] = (await settledAt(grantsFor[2]!, leaveWithinMs, 'after SIGTERM')) + times['sigtermMs'];

    // Cut the fourth off: it fences itself, the first retires its claim (its threads killed) and grows; then back.
    const cut = replicas[3]!;
    const cutLogFrom = cut.logs.length;
    const cutAt = Date.now();
    proxy.cutOff();
    times['cutOffMs'] = await settledAt(grantsFor[1]!, lapseWithinMs, 'after the cut-off');
    const restoredAt = Date.now();
    proxy.restore();
    times['rejoinMs'] = await settledAt(grantsFor[2]!, joinWithinMs, 'after the path came back');
    const fenced = await cut.waitForLog(
      (line) => line.msg === 'replica fenced: its share is withdrawn until it joins again',
      1000,
      cutLogFrom,
    );
    const served = await cut.waitForLog(
      (line) => line.msg === 'pool ceiling changed' && Number(line['ceiling']) > 0,
      1000,
      cut.logs.indexOf(fenced),
    );
    times['fencedAfterMs'] = timeOf(fenced) - cutAt;
    times['fencedForMs'] = timeOf(served) - timeOf(fenced);
    times['servingAfterRestoreMs'] = timeOf(served) - restoredAt;
    const rejoinedAt = timeOf(served);
    const refusedBeforeRestart = await monitor.refused();

    // Restart MySQL: every connection drops; the claims survive in InnoDB; nobody may come back above the limit.
    const restartAt = Date.now();
    await mariadb.stop();
    await mariadb.start();
    times['mysqlDownMs'] = Date.now() - restartAt;
    times['recoverMs'] =
      (await settledAt(grantsFor[2]!, lapseWithinMs, 'after the MySQL restart')) + times['mysqlDownMs'];
    const recoveredAt = Date.now();
    // Serving again: every surviving replica answers 200 after the restart.
    for (const index of [0, 3]) {
      const load = loads[index]!;
      const until = Date.now() + joinWithinMs;
      while (
        !load.samples.some((s) => s.status === 200 && s.startedAt > restartAt + times['mysqlDownMs']!) &&
        Date.now() < until
      )
        await sleep(100);
      const first = load.samples.find((s) => s.status === 200 && s.startedAt > restartAt + times['mysqlDownMs']!);
      assert.ok(first, `replica ${index} did not serve again after the MySQL restart`);
      times[`servingAgain${index}Ms`] = first.endedAt - restartAt;
    }
    await sleep(1500);

    // The live ceiling is what the pools report.
    const exposition = await scrape(`http://127.0.0.1:${replicas[0]!.metricsPort}/metrics`);
    const poolMax = exposition.series('db_client_connection_max').map((s) => s.value);
    const budgetReplicas = exposition.sum('db_pool_budget_replicas');

    await Promise.all(loads.map((load) => load.stop()));
    const refusedAfterRestart = await monitor.refused();
    await monitor.stop();

    // Invariant, as MySQL saw it.
    const readings = monitor.readings;
    const maxRegistered = Math.max(...readings.map((r) => r.registered));
    const maxTotal = Math.max(...readings.map((r) => r.total));
    const maxUnregistered = Math.max(...readings.map((r) => r.total - r.registered));
    // Leaving out the connections just opened: under load after a MySQL restart every pool reconnects at once, and
    // a sample can find many between their handshake and their registration (their grants pay for them already).
    const maxUncovered = Math.max(...readings.map((r) => r.total - r.registered - r.justOpened));
    const beyondGrants = readings.filter((r) => r.total > r.granted + reserve - 1);
    const maxGranted = Math.max(...readings.map((r) => r.granted));
    const overGrant = readings.filter((r) => r.over > 0);
    const maxGapMs = Math.max(...readings.slice(1).map((r, i) => r.at - readings[i]!.at));
    figures('live replica budget', {
      ...times,
      samples: readings.length,
      maxGapMs,
      maxGranted,
      maxRegistered,
      maxTotal,
      maxUnregistered,
      maxUncovered,
      leastRoomBesideGrants: Math.min(...readings.map((r) => r.granted + reserve - 1 - r.total)),
      usable,
    });
    assert.ok(readings.length > 0, 'MySQL was never sampled');
    assert.ok(maxGranted <= usable, `Σ granted peaked at ${maxGranted} > limit − reserve = ${usable}`);
    assert.deepEqual(overGrant, [], 'a replica held more threads than its grant');
    assert.ok(
      maxRegistered <= usable,
      `threads covered by grants peaked at ${maxRegistered} > limit − reserve = ${usable}`,
    );
    // Every thread MySQL holds is paid for by a grant or fits the reserve beside the monitor.
    assert.deepEqual(beyondGrants, [], 'MySQL held more threads than Σ granted + the reserve beside the monitor');
    // What no grant covers (a starting replica's migration and coordination connections, thread kills) fits the reserve
    // beside the monitor.
    assert.ok(
      maxUncovered <= reserve - 1,
      `${maxUncovered} threads outside any grant, past their first moment, > the reserve beside the monitor`,
    );
    assert.equal(refusedBeforeRestart + refusedAfterRestart, 0, 'MySQL refused connections (errno 1040)');
    for (const replica of replicas) {
      const refusals = [...replica.logs.map((line) => JSON.stringify(line)), ...replica.stderr].filter((text) =>
        tooMany.test(text),
      );
      assert.deepEqual(refusals, [], 'a replica saw errno 1040');
    }
    for (const load of loads)
      assert.deepEqual(
        load.samples.filter((s) => tooMany.test(s.body)),
        [],
        'a response carried errno 1040',
      );
    assert.deepEqual(poolMax, [6, 6], 'db_client_connection_max is the live ceiling of two replicas');
    assert.equal(budgetReplicas, 2);

    // Failed requests: only where a fault must cost them, and always as a 503 with Retry-After.
    // A fault costs the requests running when it struck (on the cut-off replica, each waits out the 2 s statement
    // deadline) and those started before the replica served again (a fenced replica answers 503 at once).
    const during = (from: number, to: number) => (s: Sample) => s.endedAt >= from && s.startedAt <= to;
    const restartWindow = during(restartAt, recoveredAt + 3000);
    const cutWindow = during(cutAt, rejoinedAt + 3000);
    loads.forEach((load, index) => {
      const failed = load.samples.filter((s) => s.status !== 200);
      const unexplained = failed.filter(
        (s) => !(s.status === 503 && Number(s.retryAfter) >= 1 && (restartWindow(s) || (index === 3 && cutWindow(s)))),
      );
      figures(`replica ${index} requests`, { ...tally(load.samples), unexplained: unexplained.length });
      assert.ok(load.samples.length > 0, `replica ${index} was sent no request`);
      const when = unexplained.map(
        (s) =>
          `started ${s.startedAt - cutAt} ms after the cut-off, ${s.startedAt - rejoinedAt} ms after rejoining, ${s.startedAt - restartAt} ms after the restart`,
      );
      assert.deepEqual(
        unexplained,
        [],
        `replica ${index}: failures outside the faults that cost them:\n${describeFailures(unexplained)}\n${when.join('\n')}`,
      );
    });
  });
});
