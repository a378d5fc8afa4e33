import { Counter, Histogram, type Registry } from 'prom-client';
import type { PoolObserver } from '../db/pool-observer.js';
import { retryReasons } from '../db/retry-rule.js';
import { connectionCreateBuckets, poolUseBuckets, poolWaitBuckets } from './buckets.js';

/*
 * OpenTelemetry database-client connection metrics, in Prometheus form, with the attribute names of the current
 * semantic conventions (db.client.connection.pool.name, db.client.connection.state become the labels
 * db_client_connection_pool_name, db_client_connection_state), so OTel-aware dashboards and rules read them
 * as they are. Counters and histograms come from the pool's observer callbacks; the gauges, read from the pool's
 * real state at scrape time so they cannot drift, are pool-state-metrics.ts. Every series also carries the registry's `worker` default label; the cluster
 * aggregator sums series with identical labels, which for these per-worker series is the identity.
 */

/** The pool's events as metrics: pass the result to createDbPool as its observer. */
export function createPoolMetrics(registry: Registry, poolName: string): PoolObserver {
  const registers = [registry];
  const labels = { db_client_connection_pool_name: poolName };
  const timeouts = new Counter({
    name: 'db_client_connection_timeouts_total',
    help: 'Acquisitions that hit the acquire deadline.',
    labelNames: ['db_client_connection_pool_name'],
    registers,
  });
  const waitTime = new Histogram({
    name: 'db_client_connection_wait_time_seconds',
    help: 'Time waited for a connection, including waits that timed out or failed.',
    labelNames: ['db_client_connection_pool_name'],
    buckets: [...poolWaitBuckets],
    registers,
  });
  const useTime = new Histogram({
    name: 'db_client_connection_use_time_seconds',
    help: 'Time a connection was held by a request.',
    labelNames: ['db_client_connection_pool_name'],
    buckets: [...poolUseBuckets],
    registers,
  });
  const createTime = new Histogram({
    name: 'db_client_connection_create_time_seconds',
    help: 'Time taken to open a new connection.',
    labelNames: ['db_client_connection_pool_name'],
    buckets: [...connectionCreateBuckets],
    registers,
  });
  const errors = new Counter({
    name: 'db_client_connection_errors_total',
    help: 'Driver errors by code (connect failures, lost connections, refusals).',
    labelNames: ['db_client_connection_pool_name', 'code'],
    registers,
  });
  const closed = new Counter({
    name: 'db_client_connections_closed_total',
    help: 'Connections closed, by reason.',
    labelNames: ['db_client_connection_pool_name', 'reason'],
    registers,
  });
  const statementTimeouts = new Counter({
    name: 'db_client_statement_timeouts_total',
    help: 'Statements that outlived the statement deadline (DB_QUERY_TIMEOUT_MS): each is a 503 (a 504 when it was a write that may have committed), its connection destroyed and its server thread killed.',
    labelNames: ['db_client_connection_pool_name'],
    registers,
  });
  const retries = new Counter({
    name: 'db_client_retries_total',
    help: 'Statements (or withConnection functions) run again once on a fresh connection, by reason: read_only (the server refused a write as read-only: nothing written), not_sent (the connection was found closed before the statement was sent), read_lost (a read outside a transaction lost its connection), transaction_lost (a transaction lost its connection before its COMMIT: rolled back). Never a write whose outcome is unknown.',
    labelNames: ['db_client_connection_pool_name', 'reason'],
    registers,
  });
  const readOnlyRefusals = new Counter({
    name: 'db_client_read_only_refusals_total',
    help: 'Writes the server refused as read-only (where="statement": errno 1290, 1792 or 1836), and new connections not kept because their server reported read_only (where="connection"): the server behind DATABASE_URL does not take writes.',
    labelNames: ['db_client_connection_pool_name', 'where'],
    registers,
  });
  for (const reason of retryReasons) retries.inc({ ...labels, reason }, 0);
  for (const where of ['statement', 'connection']) readOnlyRefusals.inc({ ...labels, where }, 0);
  // Zero-initialise the counters so rate() has a baseline before the first event.
  timeouts.inc(labels, 0);
  statementTimeouts.inc(labels, 0);
  // The close reasons an alert or panel asks about, so increase() sees their first occurrence.
  for (const reason of ['query_timeout', 'max_lifetime', 'failed_ping', 'read_only', 'stale_server'])
    closed.inc({ ...labels, reason }, 0);

  return {
    acquired: (seconds) => waitTime.observe(labels, seconds),
    acquireFailed(seconds, reason) {
      waitTime.observe(labels, seconds);
      if (reason === 'timeout') timeouts.inc(labels);
    },
    released: (seconds) => useTime.observe(labels, seconds),
    created: (seconds) => createTime.observe(labels, seconds),
    connectionError: (code) => errors.inc({ ...labels, code }),
    closed: (reason) => closed.inc({ ...labels, reason }),
    statementTimedOut: () => statementTimeouts.inc(labels),
    retried: (reason) => retries.inc({ ...labels, reason }),
    readOnlyRefused: (where) => readOnlyRefusals.inc({ ...labels, where }),
  };
}
