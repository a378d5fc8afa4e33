import type { Middleware } from 'koa';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { httpDurationBuckets } from './buckets.js';

/**
 * OpenTelemetry HTTP server metrics. `http_route` is the route template (`/api/me`), or `unmatched` for
 * paths no route knows, never the raw path: a scanner cannot blow up the series count.
 */
export function createHttpMetrics(registry: Registry): Middleware {
  const duration = new Histogram({
    name: 'http_server_request_duration_seconds',
    help: 'Duration of HTTP requests, by method, route template and status code.',
    labelNames: ['http_request_method', 'http_route', 'http_response_status_code'],
    buckets: [...httpDurationBuckets],
    registers: [registry],
  });
  // Counted in a plain number and read at scrape time: two labelled gauge updates per request cost more.
  let inFlight = 0;
  new Gauge({
    name: 'http_server_active_requests',
    help: 'HTTP requests in flight.',
    registers: [registry],
    aggregator: 'sum',
    collect() {
      this.set(inFlight);
    },
  });
  const knownMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

  return async (ctx, next) => {
    const method = knownMethods.has(ctx.method) ? ctx.method : '_OTHER';
    const started = performance.now();
    inFlight++;
    try {
      await next();
    } finally {
      inFlight--;
      const route = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      duration.observe(
        { http_request_method: method, http_route: typeof route === 'string' ? route : 'unmatched', http_response_status_code: String(ctx.status) },
        (performance.now() - started) / 1000,
      );
    }
  };
}
