import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import type { DbConnectionOptions } from '../../server/config/config.js';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { registerConnection } from '../../server/live-shares/replica-claims.js';
import { freshDatabase } from '../../harness/test-database.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { startFreezableProxy, type FreezableProxy } from '../helpers/freezable-proxy.js';
import { eventually, startReplica, type InProcessReplica } from '../helpers/in-process-replica.js';

/*
 * What MySQL's clock and a MySQL restart may not do to the live budget (APP_REPLICAS=auto): a step of the server's
 * wall clock (libfaketime in front of a throwaway mariadbd) fences nobody and retires nobody, and a restart that
 * reuses thread ids never gets a stranger's connection killed in the name of a replica that stopped renewing.
 */

const libfaketime = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
const shape = { primaryConnections: 1, pools: 2, poolMax: 4 };

describe('chaos: the live budget against MySQL’s clock and restarts', function () {
  this.timeout(120_000);
  const replicas: InProcessReplica[] = [];
  let proxy: FreezableProxy | undefined;
  afterEach(async () => {
    await Promise.all(replicas.splice(0).map((replica) => replica.leave().catch(() => {})));
    await proxy?.close();
    proxy = undefined;
  });

  describe('a step of MySQL’s wall clock', () => {
    let mariadb: ThrowawayMariadb | undefined;
    let dir = '';
    before(async function () {
      if (!existsSync(libfaketime)) {
        console.warn(`      [skip] ${libfaketime} is missing (apt-get install faketime): cannot step mariadbd's clock`);
        this.skip();
      }
      dir = mkdtempSync(join(tmpdir(), 'faketime-'));
      writeFileSync(join(dir, 'offset'), '+0');
      mariadb = await startThrowawayMariadb({
        env: {
          LD_PRELOAD: libfaketime,
          FAKETIME_TIMESTAMP_FILE: join(dir, 'offset'),
          FAKETIME_CACHE_DURATION: '1',
          // Only the wall clock steps, as it does on a real host; monotonic time goes on.
          DONT_FAKE_MONOTONIC: '1',
        },
      });
    });
    after(async () => {
      await mariadb?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('±5 s fences nobody and retires nobody', async () => {
      const connection = { ...parseDatabaseUrl(mariadb!.url), database: 'clock_step' };
      const admin = await freshDatabase(connection);
      const utc = async () => {
        const [rows] = await admin.query<RowDataPacket[]>('SELECT UNIX_TIMESTAMP(UTC_TIMESTAMP(6)) AS t');
        return Number(rows[0]?.['t']) * 1000;
      };
      for (const name of ['a', 'b'])
        replicas.push(startReplica(name, connection, { shape, workers: 1, reservedConnections: 10 }));
      assert.ok(await eventually(() => replicas.every((r) => r.ceilings.current() > 0), 15_000), 'both serve');
      let lowest = Number.POSITIVE_INFINITY;
      for (const offset of ['+5', '-5', '+0']) {
        const before = await utc();
        writeFileSync(join(dir, 'offset'), offset);
        // The step is seen once libfaketime re-reads its file (within a second).
        await eventually(async () => Math.abs((await utc()) - before - Number(offset) * 1000) < 2500, 5000);
        for (const until = Date.now() + 6000; Date.now() < until; await sleep(100))
          lowest = Math.min(lowest, ...replicas.map((r) => r.ceilings.current()));
      }
      const [claims] = await admin.query<RowDataPacket[]>('SELECT replica_id FROM replica_claims');
      await admin.end();
      assert.deepEqual(
        replicas.map((r) => r.counts.fenced),
        [0, 0],
        'a replica fenced itself when MySQL’s clock stepped',
      );
      assert.ok(lowest > 0, 'a replica stopped serving when MySQL’s clock stepped');
      assert.equal(claims.length, 2, 'a live replica’s claim was retired when MySQL’s clock stepped');
    });
  });

  describe('a restart that reuses thread ids', () => {
    let mariadb: ThrowawayMariadb | undefined;
    before(async () => {
      mariadb = await startThrowawayMariadb();
    });
    after(async () => {
      await mariadb?.destroy();
    });

    it('never kills a stranger’s connection with a registration from before the restart', async () => {
      const connection: DbConnectionOptions = { ...parseDatabaseUrl(mariadb!.url), database: 'restart_reuse' };
      const admin = await freshDatabase(connection);
      await admin.end();
      proxy = await startFreezableProxy({ host: '127.0.0.1', port: mariadb!.port });
      const doomed = startReplica(
        'doomed',
        { ...connection, port: proxy.port },
        { shape, workers: 1, reservedConnections: 10 },
      );
      replicas.push(doomed);
      assert.ok(await eventually(() => doomed.ceilings.current() > 0, 15_000), 'the replica serves');
      // A pool connection of the doomed replica, registered under its claim right before the server dies.
      const watcher = await createConnection(connection);
      const [[claim]] = await watcher.query<RowDataPacket[]>('SELECT replica_id FROM replica_claims');
      const doomedId = String(claim?.['replica_id']);
      const pooled = await createConnection(connection);
      assert.ok(await registerConnection(pooled, doomedId));
      const reusedId = pooled.threadId;
      await mariadb!.kill();
      await mariadb!.start();
      // The doomed replica never gets back: its claim stops changing and another replica will retire it.
      proxy.cutOff();
      for (const c of [watcher, pooled]) c.destroy();
      // A stranger's connections take the thread ids again, the registered one among them.
      const strangers: Connection[] = [];
      while (!strangers.some((c) => c.threadId === reusedId) && strangers.length < reusedId + 20)
        strangers.push(await createConnection(connection));
      const stranger = strangers.find((c) => c.threadId === reusedId);
      assert.ok(stranger, `no new connection got thread id ${reusedId}`);
      for (const c of strangers) if (c !== stranger) c.destroy();
      const survivor = startReplica('survivor', connection, { shape, workers: 1, reservedConnections: 10 });
      replicas.push(survivor);
      const check = await createConnection(connection);
      const retired = await eventually(async () => {
        const [rows] = await check.query<RowDataPacket[]>(
          'SELECT COUNT(*) AS n FROM replica_claims WHERE replica_id = ?',
          [doomedId],
        );
        return Number(rows[0]?.['n']) === 0;
      }, 20_000);
      assert.ok(retired, 'the doomed replica’s claim was never retired');
      const alive = await stranger!.query('SELECT 1').then(
        () => true,
        () => false,
      );
      stranger!.destroy();
      await check.end();
      assert.ok(alive, 'a stranger’s connection was killed in the name of the retired replica');
    });
  });
});
