import { z } from 'zod';
import type { RouteSpec } from '../route-spec.js';
import { validate } from '../validate.js';

const sleepQuery = z.object({ seconds: z.coerce.number().min(0).max(30) });

/**
 * Only mounted with ENABLE_TEST_ROUTES (refused in production), and no part of the contract: lets load and fault
 * tests hold pool connections on purpose, to fill pools, hit the acquire deadline and drain slow requests.
 */
export const testRoutes: readonly RouteSpec[] = [
  {
    method: 'get',
    path: '/test/db-sleep',
    testOnly: true,
    handlers: (deps) => [
      async (ctx) => {
        const { seconds } = validate(sleepQuery, ctx.query);
        await deps.db.execute('SELECT SLEEP(?)', [seconds], ctx.state.signal);
        ctx.body = { slept: seconds };
      },
    ],
  },
];
