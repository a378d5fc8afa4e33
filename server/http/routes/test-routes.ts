import type Router from '@koa/router';
import { z } from 'zod';
import type { DbPool } from '../../db/create-db-pool.js';
import type { AppState } from '../app-state.js';
import { validate } from '../validate.js';

const sleepQuery = z.object({ seconds: z.coerce.number().min(0).max(30) });

/**
 * Only mounted with ENABLE_TEST_ROUTES (refused in production): lets load and fault tests hold pool
 * connections on purpose, to fill pools, hit the acquire deadline and drain slow requests.
 */
export function testRoutes(router: Router<AppState>, deps: { db: DbPool }): void {
  router.get('/test/db-sleep', async (ctx) => {
    const { seconds } = validate(sleepQuery, ctx.query);
    await deps.db.execute('SELECT SLEEP(?)', [seconds], ctx.state.signal);
    ctx.body = { slept: seconds };
  });
}
