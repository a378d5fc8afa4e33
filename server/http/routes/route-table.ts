import type { RouteSpec } from '../route-spec.js';
import { healthRoutes } from './health-routes.js';
import { openApiRoutes } from './openapi-routes.js';
import { sessionRoutes } from './session-routes.js';
import { testRoutes } from './test-routes.js';
import { userRoutes } from './user-routes.js';

/** Every route of the API, each declared once: createApp mounts them, createOpenApiDocument describes them. */
export const routeTable: readonly RouteSpec[] = [
  ...userRoutes,
  ...sessionRoutes,
  ...healthRoutes,
  ...openApiRoutes,
  ...testRoutes,
];
