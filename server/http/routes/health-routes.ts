import type Router from '@koa/router';
import type { DbPool } from '../../db/create-db-pool.js';
import type { AppState } from '../app-state.js';
import { httpErrors } from '../http-error.js';

export function healthRoutes(router: Router<AppState>, deps: { db: DbPool; isShuttingDown: () => boolean }): void {
  // Liveness: the process answers. Never touches the database, so an outage does not get workers killed.
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  // Readiness: take traffic only when the database answers and we are not draining.
  router.get('/readyz', async (ctx) => {
    if (deps.isShuttingDown()) throw httpErrors.serviceUnavailable('shutting_down', 'This worker is shutting down.');
    await deps.db.execute('SELECT 1', [], ctx.state.signal);
    ctx.body = { status: 'ready' };
  });
}
