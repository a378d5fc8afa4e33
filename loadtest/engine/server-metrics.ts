import { parseExposition } from '../../harness/scrape.js';

/** The cluster's pool and MySQL figures, read from its /metrics while the load runs (which may fail: tolerated). */

export interface ServerSnapshot {
  /** Sums over workers. */
  readonly used: number;
  readonly max: number;
  readonly pending: number;
  readonly threadsConnected: number | undefined;
  readonly budget: number | undefined;
}

/** The families read; a test keeps them among the app's metric names. */
export const serverMetricNames = [
  'db_client_connection_count',
  'db_client_connection_max',
  'db_client_connection_pending_requests',
  'mysql_global_status_threads_connected',
  'db_pool_budget_connections',
] as const;

const wanted = new Set<string>(serverMetricNames);

export function parseServerMetrics(text: string): ServerSnapshot {
  let used = 0;
  let max = 0;
  let pending = 0;
  let threadsConnected: number | undefined;
  let budget: number | undefined;
  for (const { name, labels, value } of parseExposition(text).samples) {
    if (!wanted.has(name) || !Number.isFinite(value)) continue;
    // The state label is `state` or, in OpenTelemetry's current naming, `db_client_connection_state`: both read.
    if (name === 'db_client_connection_count')
      used += (labels['db_client_connection_state'] ?? labels['state']) === 'used' ? value : 0;
    else if (name === 'db_client_connection_max') max += value;
    else if (name === 'db_client_connection_pending_requests') pending += value;
    else if (name === 'mysql_global_status_threads_connected')
      threadsConnected = Math.max(threadsConnected ?? 0, value);
    else budget = Math.max(budget ?? 0, value);
  }
  return { used, max, pending, threadsConnected, budget };
}

export class ServerMetricsWatcher {
  latest: ServerSnapshot | undefined;
  /** performance.now() when `latest` arrived. */
  latestAt = 0;
  lastError: string | undefined;
  scrapes = 0;
  failures = 0;
  peakUsed = 0;
  peakPending = 0;
  poolMax: number | undefined;
  peakThreadsConnected: number | undefined;
  budget: number | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(readonly url: string) {}

  /**
   * Scrapes once unless a scrape is still running; never rejects. The cluster's /metrics waits up to 1 s per
   * worker, and longer when the machine is saturated by the load itself, hence the generous timeout.
   */
  poll(timeoutMs = 2500): Promise<void> {
    this.inFlight ??= this.scrape(timeoutMs).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async scrape(timeoutMs: number): Promise<void> {
    try {
      const response = await fetch(this.url, { signal: AbortSignal.timeout(timeoutMs) });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      const snapshot = parseServerMetrics(text);
      this.latest = snapshot;
      this.latestAt = performance.now();
      this.lastError = undefined;
      this.scrapes++;
      this.peakUsed = Math.max(this.peakUsed, snapshot.used);
      this.peakPending = Math.max(this.peakPending, snapshot.pending);
      this.poolMax = Math.max(this.poolMax ?? 0, snapshot.max);
      if (snapshot.threadsConnected !== undefined)
        this.peakThreadsConnected = Math.max(this.peakThreadsConnected ?? 0, snapshot.threadsConnected);
      if (snapshot.budget !== undefined) this.budget = Math.max(this.budget ?? 0, snapshot.budget);
    } catch (error) {
      this.failures++;
      this.latest = undefined;
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      this.lastError = cause ?? (error as Error).message;
    }
  }
}
