import assert from 'node:assert/strict';
import { DatabaseUnavailableError, NotSentError, OutcomeUnknownError } from '../../server/db/db-errors.js';
import { retryReason, waitsForServer, type StatementFailure } from '../../server/db/retry-rule.js';
import type { StatementKind } from '../../server/db/statement-kind.js';

/* The one rule for running a statement again: only what provably did not happen (retry-rule.ts). */

const readOnly = Object.assign(
  new Error('The MariaDB server is running with the --read-only option so it cannot execute this statement'),
  { errno: 1290, code: 'ER_OPTION_PREVENTS_STATEMENT' },
);
const secureFilePriv = Object.assign(
  new Error('The MySQL server is running with the --secure-file-priv option so it cannot execute this statement'),
  { errno: 1290, code: 'ER_OPTION_PREVENTS_STATEMENT' },
);
const innodbReadOnly = Object.assign(new Error('Running in read-only mode'), { errno: 1836 });
const lost = Object.assign(new Error('Connection lost: The server closed the connection.'), {
  code: 'PROTOCOL_CONNECTION_LOST',
  fatal: true,
});
const duplicate = Object.assign(new Error('Duplicate entry'), { errno: 1062, code: 'ER_DUP_ENTRY' });

const failure = (error: unknown, kind: StatementKind, more: Partial<StatementFailure> = {}): StatementFailure => ({
  error,
  kind,
  inTransaction: false,
  committedBefore: false,
  ...more,
});

describe('retry rule', () => {
  it('runs again a write refused as read-only, a statement never sent and a read whose connection was lost', () => {
    assert.equal(retryReason(failure(readOnly, 'write')), 'read_only');
    assert.equal(retryReason(failure(readOnly, 'write', { inTransaction: true })), 'read_only');
    assert.equal(retryReason(failure(innodbReadOnly, 'write')), 'read_only');
    assert.equal(retryReason(failure(new NotSentError('connection_closed'), 'commit')), 'not_sent');
    assert.equal(retryReason(failure(lost, 'read')), 'read_lost');
  });

  it('runs a transaction again when its connection is lost before its COMMIT: it was rolled back, never committed', () => {
    assert.equal(retryReason(failure(lost, 'begin')), 'transaction_lost');
    assert.equal(retryReason(failure(lost, 'write', { inTransaction: true })), 'transaction_lost');
    assert.equal(retryReason(failure(lost, 'read', { inTransaction: true })), 'transaction_lost');
    assert.equal(
      retryReason(failure(lost, 'commit', { inTransaction: true })),
      undefined,
      'a COMMIT may have committed',
    );
    assert.equal(retryReason(failure(lost, 'begin', { inTransaction: true })), undefined, 'it commits the open one');
  });

  it('runs a transaction again when a refusal interrupts it after writes of its own: they were never committed', () => {
    assert.equal(retryReason(failure(readOnly, 'write', { inTransaction: true })), 'read_only');
    assert.equal(retryReason(failure(readOnly, 'commit', { inTransaction: true })), 'read_only');
    assert.equal(
      retryReason(failure(new NotSentError('connection_closed'), 'write', { inTransaction: true })),
      'not_sent',
    );
  });

  it('never runs again a write that may have committed, or anything after a statement that may have', () => {
    assert.equal(retryReason(failure(new OutcomeUnknownError('PROTOCOL_CONNECTION_LOST'), 'write')), undefined);
    assert.equal(retryReason(failure(lost, 'write')), undefined, 'an autocommit write');
    assert.equal(retryReason(failure(lost, 'commit')), undefined);
    assert.equal(retryReason(failure(lost, 'implicit_commit')), undefined);
    assert.equal(retryReason(failure(lost, 'read', { committedBefore: true })), undefined);
    assert.equal(retryReason(failure(readOnly, 'write', { committedBefore: true })), undefined);
    assert.equal(
      retryReason(failure(new NotSentError('connection_closed'), 'read', { committedBefore: true })),
      undefined,
    );
    assert.equal(retryReason(failure(duplicate, 'write')), undefined);
    assert.equal(retryReason(failure(secureFilePriv, 'write')), undefined, '1290 for another option is not read-only');
    assert.equal(retryReason(failure(new DatabaseUnavailableError('query_timeout'), 'read')), undefined);
  });

  it('waits for a server while none answers or the one that answers is read-only, not for what waiting cannot mend', () => {
    for (const code of ['ECONNREFUSED', 'PROTOCOL_CONNECTION_LOST', 'ENOTFOUND', 'server_read_only'])
      assert.ok(waitsForServer(new DatabaseUnavailableError(code)), code);
    assert.ok(waitsForServer(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })));
    for (const code of ['ER_ACCESS_DENIED_ERROR', 'ER_BAD_DB_ERROR', 'ER_CON_COUNT_ERROR', 'acquire_timeout'])
      assert.ok(!waitsForServer(Object.assign(new Error(code), { code })), code);
  });
});
