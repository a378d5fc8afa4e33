import { scrape } from '../../harness/scrape.js';

/*
 * The server's own view of latency: its request-duration histogram, summed over workers and routes, read before and
 * after a run. It starts when a request is read, so it counts the wait in the request line but not the wait to be
 * accepted.
 */

export type ServerBuckets = Map<number, number>;

export async function serverBuckets(metricsUrl: string): Promise<ServerBuckets> {
  const buckets: ServerBuckets = new Map();
  for (const s of (await scrape(metricsUrl)).series('http_server_request_duration_seconds_bucket')) {
    const le = s.labels['le'] === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels['le']);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  return buckets;
}

/** The upper bound, in ms, of the bucket holding the p-quantile of the requests between two readings. */
export function serverQuantileMs(before: ServerBuckets, after: ServerBuckets, p: number): number {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return Number.NaN;
  for (const le of les) if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= total * p) return le * 1000;
  return Number.POSITIVE_INFINITY;
}
