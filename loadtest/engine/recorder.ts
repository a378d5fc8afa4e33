import * as hdr from 'hdr-histogram-js';
import { causes, type Cause } from './errors.js';

/** Latencies in HDR histograms (microseconds, 3 significant digits), status and error counts. */

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
}

export interface NameStats {
  readonly histogram: Histogram;
  requests: number;
  ok: number;
  readonly statusCounts: Map<string, number>;
}

/** The status key of a request that got no response. */
export const noResponse = 'no_response';

export class Recorder {
  readonly overall = newHistogram();
  /** The same latencies since the last per-second sample (TimeSeriesSampler resets it). */
  readonly interval = newHistogram();
  readonly byName = new Map<string, NameStats>();
  readonly statusCounts = new Map<string, number>();
  readonly errors = Object.fromEntries(causes.map((c) => [c, 0])) as Record<Cause, number>;
  /** What is behind the causes: network error codes (ECONNRESET, UND_ERR_HEADERS_TIMEOUT, EMFILE...) and unexpected statuses with the API's error code ("503 overloaded"). */
  readonly errorDetails = new Map<string, number>();
  requests = 0;
  ok = 0;
  iterations = 0;
  droppedIterations = 0;
  /** Requests cut off when the run stopped (not counted as requests). */
  interrupted = 0;

  private stats(name: string): NameStats {
    let stats = this.byName.get(name);
    if (!stats) {
      stats = { histogram: newHistogram(), requests: 0, ok: 0, statusCounts: new Map() };
      this.byName.set(name, stats);
    }
    return stats;
  }

  /** A request that got a response: `cause` is undefined when its status was the expected one, else `detail` says more. */
  response(name: string, statusKey: string, micros: number, cause: Cause | undefined, detail?: string): void {
    const stats = this.stats(name);
    if (cause !== undefined && detail !== undefined)
      this.errorDetails.set(detail, (this.errorDetails.get(detail) ?? 0) + 1);
    const value = Math.max(1, Math.round(micros));
    this.overall.recordValue(value);
    this.interval.recordValue(value);
    stats.histogram.recordValue(value);
    this.count(stats, statusKey, cause);
  }

  /** A request that got no response. */
  failure(name: string, code: string, cause: Cause): void {
    this.errorDetails.set(code, (this.errorDetails.get(code) ?? 0) + 1);
    this.count(this.stats(name), noResponse, cause);
  }

  private count(stats: NameStats, statusKey: string, cause: Cause | undefined): void {
    this.requests++;
    stats.requests++;
    this.statusCounts.set(statusKey, (this.statusCounts.get(statusKey) ?? 0) + 1);
    stats.statusCounts.set(statusKey, (stats.statusCounts.get(statusKey) ?? 0) + 1);
    if (cause === undefined) {
      this.ok++;
      stats.ok++;
    } else {
      this.errors[cause]++;
    }
  }

  errorTotal(): number {
    return this.requests - this.ok;
  }
}
