import autocannon from 'autocannon';

/** A load run with autocannon in this process, counted so that a request cut off by the run's end is not a failure. */

export interface LoadResult {
  /** Every request sent, answered or not (timeouts, socket errors and requests still in flight at the end included). */
  readonly sent: number;
  /** Requests answered with any status. */
  readonly answered: number;
  /** 2xx answers. */
  readonly ok: number;
  /**
   * Requests the load generator itself cut off when the run's time was up (one per connection at most): neither
   * answered nor failed. Every other request sent counts, and a success rate is ok ÷ (sent − inFlightAtEnd).
   */
  readonly inFlightAtEnd: number;
  /** Requests that ended without a 2xx: non-2xx answers, timeouts and socket errors. */
  readonly failed: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  /** Requests that got no answer: socket errors and timeouts (autocannon counts a timeout as an error too). */
  readonly errors: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly headers?: Record<string, string>;
  readonly method?: 'GET' | 'POST';
  readonly body?: string;
  /** A fixed arrival rate over all connections (requests per second) instead of as fast as possible. */
  readonly overallRate?: number;
}

export async function runAutocannon(options: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    headers: options.headers ?? {},
    method: options.method ?? 'GET',
    ...(options.body !== undefined ? { body: options.body } : {}),
    ...(options.overallRate !== undefined ? { overallRate: options.overallRate } : {}),
  });
  // requests.total counts answers only; requests.sent counts what was written, so a run whose every request timed
  // out is not "100 % ok of 0". What was sent and neither answered nor errored was still in flight at the end.
  const sent = Math.max(result.requests.sent, result.requests.total + result.errors);
  const ended = result.requests.total + result.errors;
  return {
    sent,
    answered: result.requests.total,
    ok: result['2xx'],
    inFlightAtEnd: sent - ended,
    failed: ended - result['2xx'],
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** 2xx ÷ every request that ended (answered, timed out or failed on its socket). */
export function successRate(load: LoadResult): number {
  const ended = load.sent - load.inFlightAtEnd;
  return ended === 0 ? 0 : load.ok / ended;
}
