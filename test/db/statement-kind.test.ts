import assert from 'node:assert/strict';
import { mayCommit, statementKind } from '../../server/db/statement-kind.js';

/* Which statements, cut off after they were sent, may have committed: the rule behind 503 against 504. */

describe('statement kind', () => {
  it('reads the first keyword, past blanks and comments, in any case', () => {
    const cases: [string, ReturnType<typeof statementKind>][] = [
      ['SELECT 1', 'read'],
      ['  select * from users', 'read'],
      ['/* hint */ SELECT 1', 'read'],
      ['-- note\nSHOW TABLES', 'read'],
      ['# note\nEXPLAIN SELECT 1', 'read'],
      ['INSERT INTO users VALUES (1)', 'write'],
      ['update users set name = 1', 'write'],
      ['DELETE FROM sessions', 'write'],
      ['REPLACE INTO t VALUES (1)', 'write'],
      ['WITH x AS (SELECT 1) UPDATE t SET a = 1', 'write'],
      ['START TRANSACTION', 'begin'],
      ['BEGIN', 'begin'],
      ['COMMIT', 'commit'],
      ['ROLLBACK', 'rollback'],
      ['ROLLBACK TO SAVEPOINT a', 'read'],
      ['CREATE TABLE t (a INT)', 'implicit_commit'],
      ['TRUNCATE t', 'implicit_commit'],
      ['', 'write'],
      ['/* only a comment */', 'write'],
    ];
    for (const [sql, kind] of cases) assert.equal(statementKind(sql), kind, sql);
  });

  it('a write commits by itself only outside a transaction; COMMIT and implicit commits always may', () => {
    assert.equal(mayCommit('write', false), true);
    assert.equal(mayCommit('write', true), false);
    assert.equal(mayCommit('commit', true), true);
    assert.equal(mayCommit('implicit_commit', true), true);
    assert.equal(mayCommit('begin', true), true, 'a BEGIN commits the transaction already open');
    assert.equal(mayCommit('begin', false), false);
    assert.equal(mayCommit('read', false), false);
    assert.equal(mayCommit('rollback', true), false);
  });
});
