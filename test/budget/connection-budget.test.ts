import assert from 'node:assert/strict';
import {
  BudgetError,
  computeConnectionBudget,
  type BudgetInput,
  type ConnectionBudget,
} from '../../server/budget/connection-budget.js';
import { preparedStatementsPerConnection } from '../../server/budget/server-limits.js';

const base: BudgetInput = {
  limits: { maxConnections: 151, maxUserConnections: 0, accountMaxUserConnections: 0, maxPreparedStatements: 16_382 },
  poolMax: 50,
  reservedConnections: 10,
  replicas: 1,
  workers: 2,
  primaryConnections: 1,
  surgeWorkers: 1,
};

describe('computeConnectionBudget', () => {
  it('splits what MySQL allows, minus reserve and primary, over every pool including the reload surge', () => {
    const budget = computeConnectionBudget(base);
    // (151 − 10 − 1) / (1 × (2 + 1)) = 46.67 → 46, under the DB_POOL_MAX ceiling of 50
    assert.equal(budget.usable, 140);
    assert.equal(budget.perWorker, 46);
    assert.equal(budget.boundBy, 'server_limit');
    assert.equal(budget.worstCaseConnections, 3 * 46 + 1);
    assert.ok(budget.worstCaseConnections <= budget.limit - budget.reservedConnections);
  });

  it('caps each pool at DB_POOL_MAX when the server has room to spare', () => {
    const budget = computeConnectionBudget({
      ...base,
      limits: {
        maxConnections: 1000,
        maxUserConnections: 0,
        accountMaxUserConnections: 0,
        maxPreparedStatements: 16_382,
      },
    });
    assert.equal(budget.perWorker, 50);
    assert.equal(budget.boundBy, 'DB_POOL_MAX');
  });

  it('uses max_user_connections when it is set and smaller', () => {
    const budget = computeConnectionBudget({
      ...base,
      limits: {
        maxConnections: 500,
        maxUserConnections: 40,
        accountMaxUserConnections: 40,
        maxPreparedStatements: 16_382,
      },
    });
    assert.equal(budget.limit, 40);
    assert.equal(budget.limitSource, 'max_user_connections_global');
    assert.equal(budget.perWorker, Math.floor((40 - 10 - 1) / 3));
  });

  it('ignores a max_user_connections larger than max_connections', () => {
    const budget = computeConnectionBudget({
      ...base,
      limits: {
        maxConnections: 100,
        maxUserConnections: 400,
        accountMaxUserConnections: 400,
        maxPreparedStatements: 16_382,
      },
    });
    assert.equal(budget.limitSource, 'max_connections');
    assert.equal(budget.limit, 100);
  });

  it("uses the account's own MAX_USER_CONNECTIONS when the global max_user_connections is 0", () => {
    const budget = computeConnectionBudget({
      ...base,
      limits: {
        maxConnections: 151,
        maxUserConnections: 0,
        accountMaxUserConnections: 20,
        maxPreparedStatements: 16_382,
      },
    });
    assert.equal(budget.limit, 20);
    assert.equal(budget.limitSource, 'max_user_connections_account');
    assert.equal(budget.perWorker, Math.floor((20 - 10 - 1) / 3));
  });

  it('uses the account limit when it is below a non-zero global max_user_connections, and the global one when it is below the account', () => {
    const account = computeConnectionBudget({
      ...base,
      limits: {
        maxConnections: 151,
        maxUserConnections: 60,
        accountMaxUserConnections: 30,
        maxPreparedStatements: 16_382,
      },
    });
    assert.deepEqual([account.limit, account.limitSource], [30, 'max_user_connections_account']);
    const global = computeConnectionBudget({
      ...base,
      limits: {
        maxConnections: 151,
        maxUserConnections: 30,
        accountMaxUserConnections: 60,
        maxPreparedStatements: 16_382,
      },
    });
    assert.deepEqual([global.limit, global.limitSource], [30, 'max_user_connections_global']);
  });

  it('counts max_prepared_stmt_count as connections: each pool connection holds at most preparedStatementsPerConnection', () => {
    const limits = {
      maxConnections: 2000,
      maxUserConnections: 0,
      accountMaxUserConnections: 0,
      maxPreparedStatements: 16_382,
    };
    const budget = computeConnectionBudget({ ...base, poolMax: 1000, limits });
    assert.deepEqual(
      [budget.limit, budget.limitSource],
      [Math.floor(16_382 / preparedStatementsPerConnection), 'max_prepared_stmt_count'],
    );
    assert.ok(budget.worstCaseConnections * preparedStatementsPerConnection <= 16_382);
    // 0 is no "unlimited" here: the server prepares nothing, so no pool fits.
    assert.throws(
      () => computeConnectionBudget({ ...base, limits: { ...limits, maxPreparedStatements: 0 } }),
      (error: unknown) =>
        error instanceof BudgetError &&
        /max_prepared_stmt_count=0/.test(error.message) &&
        /raise MySQL's max_prepared_stmt_count/.test(error.message),
    );
  });

  it("refuses an account too small to fit, telling the operator to raise the account's MAX_USER_CONNECTIONS", () => {
    assert.throws(
      () =>
        computeConnectionBudget({
          ...base,
          limits: {
            maxConnections: 151,
            maxUserConnections: 0,
            accountMaxUserConnections: 3,
            maxPreparedStatements: 16_382,
          },
        }),
      (error: unknown) =>
        error instanceof BudgetError &&
        /max_user_connections_account=3/.test(error.message) &&
        /MAX_USER_CONNECTIONS/.test(error.message),
    );
  });

  it('divides by replicas, and each replica has its own primary connection', () => {
    const budget = computeConnectionBudget({ ...base, replicas: 3, workers: 4 });
    // (151 − 10 − 3) / (3 × 5) = 9.2 → 9
    assert.equal(budget.usable, 138);
    assert.equal(budget.perWorker, 9);
    assert.equal(budget.worstCaseConnections, 3 * (5 * 9 + 1));
  });

  it('never exceeds the limit minus the reserve, for any shape of deployment', () => {
    let computed = 0;
    for (let maxConnections = 10; maxConnections <= 400; maxConnections += 13) {
      for (const replicas of [1, 2, 5]) {
        for (const workers of [1, 2, 4, 8, 16]) {
          for (const reservedConnections of [0, 3, 10]) {
            const input = {
              ...base,
              limits: {
                maxConnections,
                maxUserConnections: 0,
                accountMaxUserConnections: 0,
                maxPreparedStatements: 16_382,
              },
              replicas,
              workers,
              reservedConnections,
            };
            let budget: ConnectionBudget;
            try {
              budget = computeConnectionBudget(input);
            } catch (error) {
              // Only a refusal is allowed instead of a budget; the assertions below stay outside the catch.
              assert.ok(error instanceof BudgetError, String(error));
              continue;
            }
            computed++;
            assert.ok(budget.perWorker >= 1, JSON.stringify(input));
            assert.ok(budget.worstCaseConnections <= maxConnections - reservedConnections, JSON.stringify(input));
          }
        }
      }
    }
    assert.ok(computed > 100, `only ${computed} shapes got a budget`);
  });

  it('refuses to start when a pool would get less than one connection, showing the numbers and what to change', () => {
    assert.throws(
      () =>
        computeConnectionBudget({
          ...base,
          limits: {
            maxConnections: 20,
            maxUserConnections: 0,
            accountMaxUserConnections: 0,
            maxPreparedStatements: 16_382,
          },
          workers: 30,
        }),
      (error: unknown) => {
        assert.ok(error instanceof BudgetError);
        assert.match(error.message, /max_connections=20/);
        assert.match(error.message, /DB_RESERVED_CONNECTIONS=10/);
        assert.match(error.message, /WORKERS=30/);
        assert.match(error.message, /leaves 9 connections/);
        assert.match(
          error.message,
          /Lower WORKERS, APP_REPLICAS or DB_RESERVED_CONNECTIONS, or raise MySQL's max_connections/,
        );
        return true;
      },
    );
  });
});
