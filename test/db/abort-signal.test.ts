import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { DatabaseUnavailableError, OutcomeUnknownError } from '../../server/db/db-errors.js';
import { noopPoolObserver, type CloseReason } from '../../server/db/pool-observer.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';

/*
 * A caller's AbortSignal (the request's deadline, passed down as Go passes a ctx): aborted, the pool stops waiting for
 * a connection, abandons a running statement as the statement deadline does (connection destroyed, server thread
 * killed, its transaction rolled back) and refuses every later statement without sending it.
 */

const database = 'app_test_abort_signal';
const connection = testConnection(database);
const deadline = () => new DatabaseUnavailableError('request_deadline');

async function threadRunning(admin: Connection, id: number): Promise<boolean> {
  const [rows] = await admin.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ?',
    [id],
  );
  return Number(rows[0]?.['n']) > 0;
}

/** The server thread running `info` (a statement of ours), once MySQL shows it running. */
async function runningThread(admin: Connection, info: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const [rows] = await admin.query<RowDataPacket[]>(
      'SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO = ?',
      [database, info],
    );
    if (rows[0]) return Number(rows[0]['ID']);
    await sleep(25);
  }
  throw new Error(`never saw ${info} running`);
}

async function gone(admin: Connection, id: number): Promise<boolean> {
  for (let i = 0; i < 200 && (await threadRunning(admin, id)); i++) await sleep(25);
  return !(await threadRunning(admin, id));
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => assert.fail('it succeeded'),
    (error: unknown) => error,
  );

describe('abort signal', () => {
  let admin: Connection;
  let pool: DbPool;
  let closed: CloseReason[];
  before(async () => {
    admin = await freshDatabase(connection);
    await admin.query('CREATE TABLE probe (id INT PRIMARY KEY)');
  });
  after(async () => {
    await admin.end();
  });
  beforeEach(async () => {
    await admin.query('DELETE FROM probe');
    closed = [];
    pool = createDbPool(
      { connection, max: 1, maxIdle: 1, acquireTimeoutMs: 10_000, queryTimeoutMs: 30_000, idleTimeoutMs: 60_000 },
      { logger: silentLogger, observer: { ...noopPoolObserver, closed: (reason) => closed.push(reason) } },
    );
  });
  afterEach(async () => {
    await pool.end();
  });

  it('refuses a call whose signal is already aborted without borrowing a connection', async () => {
    const controller = new AbortController();
    controller.abort(deadline());
    const error = await failure(pool.execute('INSERT INTO probe VALUES (1)', [], controller.signal));
    assert.ok(error instanceof DatabaseUnavailableError && !(error instanceof OutcomeUnknownError), String(error));
    assert.equal((error as DatabaseUnavailableError).code, 'request_deadline');
    const refused = await failure(pool.withConnection(async () => 'ran', controller.signal));
    assert.equal((refused as DatabaseUnavailableError).code, 'request_deadline');
    assert.equal(pool.state().used, 0);
    const [rows] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM probe');
    assert.equal(Number(rows[0]?.['n']), 0);
  });

  it('stops waiting for a connection at once, long before the acquire deadline', async () => {
    const holding = new AbortController();
    const holder = failure(pool.execute('SELECT SLEEP(20)', [], holding.signal));
    await runningThread(admin, 'SELECT SLEEP(20)');
    const controller = new AbortController();
    const waiting = failure(pool.execute('SELECT 1', [], controller.signal));
    assert.equal(pool.state().pending, 1);
    controller.abort(deadline());
    const error = await waiting;
    assert.equal((error as DatabaseUnavailableError).code, 'request_deadline');
    // The one connection is still held by the sleep: the wait ended by the abort, not by a connection coming free.
    assert.equal(pool.state().pending, 0);
    assert.equal(pool.state().used, 1);
    holding.abort(deadline());
    await holder;
  });

  it('abandons a running statement: rejected at once, connection destroyed, server thread killed', async () => {
    const controller = new AbortController();
    const running = failure(pool.execute('SELECT SLEEP(20)', [], controller.signal));
    const thread = await runningThread(admin, 'SELECT SLEEP(20)');
    controller.abort(deadline());
    const error = await running;
    assert.ok(error instanceof DatabaseUnavailableError && !(error instanceof OutcomeUnknownError), String(error));
    assert.equal((error as DatabaseUnavailableError).code, 'request_deadline');
    assert.ok(await gone(admin, thread), 'the server thread is gone');
    const [row] = await pool.execute<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
    assert.notEqual(Number(row?.['id']), thread, 'the abandoned connection was not handed out again');
    assert.ok(closed.includes('aborted'), `closed: ${closed.join(', ')}`);
  });

  it('rolls back the transaction of a statement it abandoned', async () => {
    const controller = new AbortController();
    const borrower = failure(
      pool.withConnection(async (c) => {
        await c.beginTransaction();
        await c.query('INSERT INTO probe VALUES (1)');
        await c.query('SELECT SLEEP(20)');
        await c.commit();
      }, controller.signal),
    );
    const thread = await runningThread(admin, 'SELECT SLEEP(20)');
    controller.abort(deadline());
    assert.equal(((await borrower) as DatabaseUnavailableError).code, 'request_deadline');
    assert.ok(await gone(admin, thread));
    const [rows] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM probe');
    assert.equal(Number(rows[0]?.['n']), 0, 'the insert of the killed transaction was not committed');
  });

  it('refuses the statements after an abort that came between two, and rolls the open transaction back', async () => {
    const controller = new AbortController();
    let resume: () => void = () => {};
    const paused = new Promise<void>((resolve) => (resume = resolve));
    let inserted: () => void = () => {};
    const insertDone = new Promise<void>((resolve) => (inserted = resolve));
    let committed = false;
    const borrower = failure(
      pool.withConnection(async (c) => {
        await c.beginTransaction();
        await c.query('INSERT INTO probe VALUES (2)');
        inserted();
        await paused;
        await c.commit();
        committed = true;
      }, controller.signal),
    );
    await insertDone;
    controller.abort(deadline());
    resume();
    assert.equal(((await borrower) as DatabaseUnavailableError).code, 'request_deadline');
    assert.equal(committed, false);
    const [rows] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM probe');
    assert.equal(Number(rows[0]?.['n']), 0, 'nothing of the transaction was committed');
    // No statement was running, so a ROLLBACK was enough: the connection is back in the pool, outside a transaction.
    const [state] = await pool.execute<RowDataPacket[]>('SELECT @@in_transaction AS t');
    assert.equal(Number(state?.['t']), 0);
    assert.deepEqual(closed, []);
  });
});
