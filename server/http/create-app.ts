import { createHash } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { AppState } from './app-state.js';
import { errorBoundary } from './error-boundary.js';
import type { AdmissionLimiter } from '../admission/admission-limiter.js';
import { requestAdmission, type AdmissionObserver } from './request-admission.js';
import { requestContext, type ResponseObserver } from './request-context.js';
import { requestDeadline } from './request-deadline.js';
import { createOpenApiDocument } from './openapi-document.js';
import type { RouteDeps } from './route-spec.js';
import { routeTable } from './routes/route-table.js';

/** What the routes use (route-spec.ts), and what the middleware around them needs. */
export interface AppDeps extends Omit<RouteDeps, 'openApi'> {
  readonly logger: Logger;
  /** The request log (createRequestLogger); the main logger when not given. */
  readonly requestLog?: Logger;
  /**
   * Proxies in front of the app; 0: the socket's peer is the client. Otherwise the client is the X-Forwarded-For
   * entry this many places from the right (what the outermost trusted proxy saw), never the leftmost, which the
   * client writes itself when a proxy appends to the header it sent.
   */
  readonly trustedProxyHops: number;
  readonly testRoutes: boolean;
  /** HTTP metrics, told about each request once the error boundary has settled its final status. */
  readonly instrumentation?: ResponseObserver | undefined;
  /** The longest a request is waited for before its 503 (acquire + statement deadline); none when absent. */
  readonly requestTimeoutMs?: number;
  /** Requests beyond the limiter's concurrency wait in line (requestAdmission); none wait when absent. */
  readonly admission?: { readonly limiter: AdmissionLimiter; readonly observer?: AdmissionObserver | undefined };
}

/** What the API is: middleware and routes. How it runs (listen, signals) lives in composition/ and lifecycle/. */
export function createApp(deps: AppDeps): Koa<AppState> {
  const app = new Koa<AppState>();
  // Errors are handled by the boundary; koa's default handler would print stacks to stderr.
  app.silent = true;
  app.proxy = deps.trustedProxyHops > 0;
  // koa keeps the last maxIpsCount entries and takes the first of those as ctx.ip.
  app.maxIpsCount = deps.trustedProxyHops;
  app.use(
    requestContext({
      logger: deps.logger,
      requestLog: deps.requestLog ?? deps.logger,
      observer: deps.instrumentation,
      isShuttingDown: deps.isShuttingDown,
    }),
  );
  app.use(errorBoundary({ bodyLimitBytes: deps.bodyLimitBytes }));
  const routes = routeTable.filter((route) => !route.testOnly || deps.testRoutes);
  if (deps.admission) {
    const unqueued = new Set(routes.filter((route) => route.unqueued).map((route) => route.path));
    app.use(requestAdmission(deps.admission.limiter, { unqueued, observer: deps.admission.observer }));
  }
  if (deps.requestTimeoutMs !== undefined) app.use(requestDeadline(deps.requestTimeoutMs));
  const text = `${JSON.stringify(createOpenApiDocument(routeTable), null, 2)}\n`;
  const routeDeps: RouteDeps = {
    ...deps,
    openApi: { text, etag: `"${createHash('sha256').update(text).digest('base64url').slice(0, 27)}"` },
  };
  // One router, so 405 (path known, method not) is decided over every route at once.
  const router = new Router<AppState>();
  for (const route of routes) router[route.method](route.path, ...route.handlers(routeDeps));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
