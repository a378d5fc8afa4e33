import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { RequestState, type AppState } from './app-state.js';

// Accept the load balancer's request id only when it is short and harmless to log and echo back.
const acceptableRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

/** Told about every finished request (the HTTP metrics); `route` is the template, undefined when none matched. */
export interface ResponseObserver {
  requestStarted(): void;
  requestFinished(method: string, route: string | undefined, status: number, seconds: number): void;
}

export interface RequestContextOptions {
  /** The worker's logger: handlers log through a child of it that carries the request id. */
  readonly logger: Logger;
  /** Where the one line per request goes (see createRequestLogger). */
  readonly requestLog: Logger;
  readonly observer?: ResponseObserver | undefined;
  /** True once the worker drains: every response from then on closes its connection. */
  readonly isShuttingDown: () => boolean;
}

/*
 * Responses carry data about a person or a token: never sniff them, never cache them. (Frame and referrer
 * policies are for HTML pages; this API serves none.) The error boundary keeps these on error responses.
 */
const securityHeaders: ReadonlyArray<readonly [string, string]> = [
  ['X-Content-Type-Options', 'nosniff'],
  ['Cache-Control', 'no-store'],
];

/**
 * Outermost middleware, the one place that sees every request from arrival to final status (after the error
 * boundary has turned any failure into its response): request id, security headers, `Connection: close` while
 * draining, the request line (route template, never the raw path; the error code, and the cause of a 5xx) and the
 * HTTP metrics. One layer instead of one per concern: each async layer costs a busy worker measurably
 * (`npm run bench:cpu`).
 */
export function requestContext(options: RequestContextOptions): Middleware<AppState> {
  const { logger, requestLog, observer, isShuttingDown } = options;
  return async (ctx, next) => {
    const started = performance.now();
    observer?.requestStarted();
    const incoming = ctx.req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && acceptableRequestId.test(incoming) ? incoming : randomUUID();
    ctx.state = new RequestState(logger, requestId);
    const res = ctx.res;
    res.setHeader('X-Request-Id', requestId);
    for (const [name, value] of securityHeaders) res.setHeader(name, value);
    try {
      await next();
    } finally {
      // Decided when the response is about to be written, so requests already running when the drain began
      // tell their keep-alive clients to reconnect (to another worker) too.
      if (isShuttingDown()) ctx.set('Connection', 'close');
      const seconds = (performance.now() - started) / 1000;
      const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      const route = typeof matched === 'string' ? matched : undefined;
      const status = ctx.status;
      observer?.requestFinished(ctx.method, route, status, seconds);
      const { error } = ctx.state;
      const line = {
        requestId,
        method: ctx.method,
        route,
        status,
        durationMs: Math.round(seconds * 1e6) / 1000,
        error: error?.code,
        cause: error?.cause,
      };
      // 5xx lines at warn, so LOG_LEVEL=warn still shows every failure the service answered.
      if (status >= 500) requestLog.warn(line, 'request');
      else requestLog.info(line, 'request');
    }
  };
}
