import { httpErrors } from '../http-error.js';
import { unavailable } from '../route-problems.js';
import type { RouteSpec } from '../route-spec.js';

export const healthRoutes: readonly RouteSpec[] = [
  {
    method: 'get',
    path: '/healthz',
    unqueued: true,
    operation: {
      operationId: 'liveness',
      tags: ['health'],
      summary: 'Liveness: the process answers (never touches the database)',
      responses: [{ status: 200, description: 'Alive', schema: 'Health', example: { status: 'ok' } }],
      problems: [],
    },
    // Never touches the database, so an outage does not get workers killed.
    handlers: () => [
      (ctx) => {
        ctx.body = { status: 'ok' };
      },
    ],
  },
  {
    method: 'get',
    path: '/readyz',
    unqueued: true,
    operation: {
      operationId: 'readiness',
      tags: ['health'],
      summary: 'Readiness: the database answers and this worker is not draining',
      responses: [{ status: 200, description: 'Ready for traffic', schema: 'Ready', example: { status: 'ready' } }],
      problems: [unavailable(['service_unavailable', 'shutting_down'])],
    },
    // Take traffic only when the database answers and we are not draining.
    handlers: (deps) => [
      async (ctx) => {
        if (deps.isShuttingDown())
          throw httpErrors.serviceUnavailable('shutting_down', 'This worker is shutting down.');
        await deps.db.execute('SELECT 1', [], ctx.state.signal);
        ctx.body = { status: 'ready' };
      },
    ],
  },
];
