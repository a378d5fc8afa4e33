import { Gauge, Histogram, type Registry } from 'prom-client';
import type { ResponseObserver } from '../http/request-context.js';
import { httpDurationBuckets } from './buckets.js';

/**
 * OpenTelemetry HTTP server metrics. `http_route` is the route template (`/api/me`), or `unmatched` for
 * paths no route knows, never the raw path: a scanner cannot blow up the series count.
 */
export function createHttpMetrics(registry: Registry): ResponseObserver {
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

  return {
    requestStarted() {
      inFlight++;
    },
    requestFinished(method, route, status, seconds) {
      inFlight--;
      duration.observe(
        {
          http_request_method: knownMethods.has(method) ? method : '_OTHER',
          http_route: route ?? 'unmatched',
          http_response_status_code: String(status),
        },
        seconds,
      );
    },
  };
}
