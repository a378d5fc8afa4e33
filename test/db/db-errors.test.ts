import assert from 'node:assert/strict';
import { DatabaseUnavailableError, errorCode, isUnavailableError, toUnavailable } from '../../server/db/db-errors.js';

/** mysql2's error for a server error packet: `code` is looked up from MySQL's list, so MariaDB-only errnos have none. */
function serverError(errno: number, code?: string): Error {
  return Object.assign(new Error(`server error ${errno}`), { errno, code, sqlState: 'HY000', fatal: false });
}

describe('database error classification', () => {
  it('classifies by errno when mysql2 has no code for it (MariaDB 1927 connection killed, 1969 statement timeout)', () => {
    for (const [errno, name] of [
      [1927, 'ER_CONNECTION_KILLED'],
      [1969, 'ER_STATEMENT_TIMEOUT'],
    ] as const) {
      const error = serverError(errno);
      assert.equal(errorCode(error), name);
      const converted = toUnavailable(error);
      assert.ok(converted instanceof DatabaseUnavailableError, String(errno));
      assert.equal(converted.code, name);
    }
  });

  it('treats account limits, read-only servers, the prepared statement limit and statement timeouts as unavailable', () => {
    for (const [errno, code] of [
      [1226, 'ER_USER_LIMIT_REACHED'],
      [1203, 'ER_TOO_MANY_USER_CONNECTIONS'],
      [1290, 'ER_OPTION_PREVENTS_STATEMENT'],
      [1461, 'ER_MAX_PREPARED_STMT_COUNT_REACHED'],
      [3024, 'ER_QUERY_TIMEOUT'],
    ] as const) {
      assert.ok(isUnavailableError(serverError(errno, code)), code);
    }
  });

  it('leaves constraint violations and syntax errors alone', () => {
    assert.equal(isUnavailableError(serverError(1062, 'ER_DUP_ENTRY')), false);
    assert.equal(isUnavailableError(serverError(1064, 'ER_PARSE_ERROR')), false);
    assert.equal(errorCode(serverError(4242)), 'ERRNO_4242');
  });
});
