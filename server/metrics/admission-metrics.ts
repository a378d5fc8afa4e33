import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AdmissionLimiter } from '../admission/admission-limiter.js';
import type { AdmissionObserver } from '../http/request-admission.js';
import { httpDurationBuckets } from './buckets.js';

/**
 * The worker's request line (requestAdmission): its length and limit at scrape time, each wait, each refusal, each
 * request whose client hung up while it waited.
 */
export function createAdmissionMetrics(registry: Registry, limiter: AdmissionLimiter): AdmissionObserver {
  new Gauge({
    name: 'http_server_queued_requests',
    help: 'HTTP requests waiting in line for the worker to run them (HTTP_MAX_CONCURRENT_REQUESTS).',
    registers: [registry],
    aggregator: 'sum',
    collect() {
      this.set(limiter.state().queued);
    },
  });
  new Gauge({
    name: 'http_server_concurrency_limit',
    help: 'HTTP requests the worker runs at once; the rest wait in line.',
    registers: [registry],
    aggregator: 'sum',
    collect() {
      this.set(limiter.state().limit);
    },
  });
  const wait = new Histogram({
    name: 'http_server_queue_wait_seconds',
    help: 'Time HTTP requests that found the worker at its limit waited in line before it ran them.',
    buckets: [...httpDurationBuckets],
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'http_server_queue_refusals_total',
    help: 'HTTP requests answered 503 overloaded without running: the line was full, or the request waited HTTP_QUEUE_TIMEOUT_MS.',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of ['queue_full', 'wait_timeout']) refusals.inc({ reason }, 0);
  // Apart from the refusals, which are 503s we answered: a rise here is clients giving up on the wait (their own
  // timeouts shorter than HTTP_QUEUE_TIMEOUT_MS), a 499 in the request log.
  const abandoned = new Counter({
    name: 'http_server_queue_abandoned_total',
    help: 'HTTP requests whose client closed the connection while they waited in line; they left it at once (status 499).',
    registers: [registry],
  });
  return {
    admitted: (seconds) => wait.observe(seconds),
    refused: (reason) => refusals.inc({ reason }),
    abandoned: () => abandoned.inc(),
  };
}
