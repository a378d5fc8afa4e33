import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';
import { freshDatabase } from '../../harness/test-database.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';

const skewedClock = resolve(__dirname, '../helpers/skewed-clock.js');
const hourMs = 3600_000;

describe("replicas whose clocks disagree go by MySQL's clock", function () {
  this.timeout(60_000);
  let mariadb: ThrowawayMariadb;
  let admin: Connection;
  // A replica whose clock is an hour behind, and one (in this process) whose clock is right.
  let behind: ClusterProcess;
  let onTime: InProcessApp;
  before(async () => {
    // MySQL's own time zone is not UTC either, so "MySQL's clock" cannot silently mean NOW() in the server's zone.
    mariadb = await startThrowawayMariadb({ extraArgs: ['--default-time-zone=+05:00'] });
    const connection = parseDatabaseUrl(mariadb.url);
    admin = await freshDatabase(connection);
    behind = await startCluster({
      DATABASE_URL: mariadb.url,
      WORKERS: '1',
      TRUST_PROXY: 'true',
      NODE_OPTIONS: `--require ${skewedClock}`,
      CLOCK_SKEW_MS: String(-hourMs),
    });
    onTime = await startInProcessApp({ connection, trustProxy: true });
    const created = await request(`${onTime.url}/api/users`, {
      method: 'POST',
      json: { email: 'clock@example.com', password: 'right-password', name: 'C' },
    });
    assert.equal(created.status, 201, created.text);
  });
  after(async () => {
    await behind?.stop();
    await onTime?.close();
    await admin?.end();
    await mariadb?.destroy();
  });

  const login = (url: string, password: string, client = '203.0.113.80') =>
    request(`${url}/api/login`, {
      method: 'POST',
      json: { email: 'clock@example.com', password },
      headers: { 'x-forwarded-for': client },
    });
  const mysqlNowMs = async () => {
    const [rows] = await admin.query<RowDataPacket[]>('SELECT UNIX_TIMESTAMP(NOW(3)) * 1000 AS ms');
    return Number(rows[0]?.['ms']);
  };

  it("gives a session expiresAt = MySQL's now + the TTL, stored and answered alike", async () => {
    const session = await login(behind.url, 'right-password');
    assert.equal(session.status, 200, session.text);
    const expiresAt = Date.parse(String(session.body['expiresAt']));
    const expected = (await mysqlNowMs()) + 86_400_000;
    assert.ok(
      Math.abs(expiresAt - expected) < 60_000,
      `expiresAt is ${(expiresAt - expected) / 1000} s off MySQL's now + TTL`,
    );
    const [rows] = await admin.query<RowDataPacket[]>(
      'SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), expires_at) AS remaining FROM sessions ORDER BY created_at DESC LIMIT 1',
    );
    const remaining = Number(rows[0]?.['remaining']);
    assert.ok(Math.abs(remaining - 86_400) < 60, `the stored expires_at is ${remaining} s after MySQL's UTC now`);
  });

  it("refuses a session that expired by MySQL's clock on a replica whose clock is behind", async () => {
    const session = await login(behind.url, 'right-password');
    assert.equal(session.status, 200, session.text);
    const token = String(session.body['token']);
    const me = () => request(`${behind.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal((await me()).status, 200);
    await admin.query('UPDATE sessions SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND');
    assert.equal((await me()).status, 401);
  });

  it('throttles one client the same on both replicas', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await login(i % 2 === 0 ? onTime.url : behind.url, 'guess')).status);
    assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.deepEqual(statuses.slice(5), [429, 429], `then blocked on both: ${statuses.join(' ')}`);
  });
});
