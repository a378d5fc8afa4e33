import { Gauge, type Registry } from 'prom-client';
import type { DbPool } from '../db/create-db-pool.js';

/*
 * The pool's state (OpenTelemetry's db.client.connection.* gauges, labelled as in pool-metrics.ts), read from the
 * pool itself at scrape time, so they cannot drift from it. Registered whether or not the per-request
 * instrumentation is on: reading them costs nothing between scrapes.
 */
export function createPoolStateMetrics(registry: Registry, pool: DbPool): void {
  const registers = [registry];
  const labels = { db_client_connection_pool_name: pool.name };
  const stateGauge = (
    name: string,
    help: string,
    read: (gauge: Gauge<string>) => void,
    labelNames: string[] = ['db_client_connection_pool_name'],
  ) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      aggregator: 'sum',
      collect() {
        read(this);
      },
    });

  stateGauge(
    'db_client_connection_count',
    'Open connections of the pool, by state (used: lent to a request; idle: ready in the pool).',
    (gauge) => {
      const state = pool.state();
      gauge.set({ ...labels, db_client_connection_state: 'used' }, state.used);
      gauge.set({ ...labels, db_client_connection_state: 'idle' }, state.idle);
    },
    ['db_client_connection_pool_name', 'db_client_connection_state'],
  );
  stateGauge('db_client_connection_max', 'Most connections this pool may open (its share of the budget).', (g) =>
    g.set(labels, pool.state().max),
  );
  stateGauge('db_client_connection_idle_max', 'Idle connections kept open past the idle timeout.', (g) =>
    g.set(labels, pool.state().idleMax),
  );
  stateGauge('db_client_connection_pending_requests', 'Requests waiting for a connection right now.', (g) =>
    g.set(labels, pool.state().pending),
  );
}
