import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { KeepAliveConnection } from './keep-alive-connection.js';
import { RawPool } from './raw-pool.js';
import { codeOf, isConnectionReset, type Call, type Sample } from './sample.js';

// What every user of the traffic driver reads its results with.
export { codeOf, type Call, type Sample };

/*
 * A bounded concurrent-traffic driver for fault and overload tests: every loop is bounded in count and in
 * time, every request has a hard client timeout (so a hang is recorded as `TIMEOUT`, never waited out), and
 * every request is recorded with its timings so a test can ask what happened before or after a fault.
 * undici, as the load tester and fetch: one keep-alive connection per client, whose socket the driver sees, so a
 * sample says whether its request went out on a connection an earlier one had used.
 */

export interface SendOptions {
  /** A keep-alive connection to send on; without one, a connection of its own that asks the server to close it. */
  readonly connection?: KeepAliveConnection;
  readonly timeoutMs?: number;
  readonly client?: number;
  readonly requestId?: string;
  /** Told when the request's bytes have been handed to the kernel, with the sample's `sentAt`. */
  readonly onSent?: (sentAt: number) => void;
}

/** One request; never rejects: failures are samples with `error` set. */
export function send(baseUrl: string, call: Call, options: SendOptions = {}): Promise<Sample> {
  const requestId = options.requestId ?? `traffic-${randomUUID()}`;
  const body = call.json === undefined ? undefined : JSON.stringify(call.json);
  const headers: Record<string, string> = { 'X-Request-Id': requestId, ...call.headers };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const url = new URL(call.path, baseUrl);
  const connection = options.connection ?? new KeepAliveConnection(url.origin);
  const startedAt = Date.now();
  const t0 = performance.now();
  return new Promise((resolve) => {
    let sentAt: number | undefined;
    let reusedSocket = false;
    let settled = false;
    let abort: ((error?: Error) => void) | undefined;
    let status: number | undefined;
    let retryAfter: string | undefined;
    const chunks: Buffer[] = [];
    const finish = (error: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!options.connection) void connection.close();
      resolve({
        client: options.client ?? -1,
        path: call.path,
        requestId,
        startedAt,
        sentAt,
        endedAt: Date.now(),
        reusedSocket,
        ms: performance.now() - t0,
        status,
        error,
        retryAfter,
        body: Buffer.concat(chunks).toString('utf8'),
      });
    };
    const timer = setTimeout(() => {
      // Whatever had arrived is not an answer.
      status = undefined;
      chunks.length = 0;
      finish('TIMEOUT');
      if (abort) abort(new Error('timed out'));
      else connection.discard();
    }, options.timeoutMs ?? 5000);
    // undici calls onRequestSent once the request is written to its socket; its types do not list it.
    const handler: Dispatcher.DispatchHandlers & { onRequestSent(): void } = {
      onConnect(abortRequest) {
        abort = abortRequest;
        reusedSocket = connection.markSent();
      },
      onRequestSent() {
        sentAt = Date.now();
        options.onSent?.(sentAt);
      },
      onHeaders(statusCode, rawHeaders) {
        status = statusCode;
        for (let i = 0; i + 1 < (rawHeaders?.length ?? 0); i += 2)
          if (String(rawHeaders![i]).toLowerCase() === 'retry-after') retryAfter = String(rawHeaders![i + 1]);
        return true;
      },
      onData(chunk) {
        chunks.push(chunk);
        return true;
      },
      onComplete() {
        finish(undefined);
      },
      onError(error) {
        const code = codeOf(error);
        // The tests ask for ECONNRESET whichever way the server's end arrived (a reset, or a FIN before the answer).
        finish(isConnectionReset(code) ? 'ECONNRESET' : code);
      },
    };
    connection.dispatcher.dispatch(
      {
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: (call.method ?? 'GET') as 'GET',
        headers,
        body,
        // A connection of its own is closed by the server after the answer, as node's client without an agent asks.
        reset: !options.connection,
      },
      handler,
    );
  });
}

/** Lets a test end every loop early (e.g. once a fault has played out); loops also end at their own deadline. */
export class Stopper {
  stopped = false;
  stop(): void {
    this.stopped = true;
  }
}

export interface ClosedLoopOptions {
  readonly baseUrl: string;
  readonly clients: number;
  readonly durationMs: number;
  /** Per client, a hard bound on top of the time bound. */
  readonly maxRequestsPerClient: number;
  readonly next: (client: number, i: number) => Call;
  /** One keep-alive socket per client (default), or a new connection per request. */
  readonly keepAlive?: boolean;
  readonly timeoutMs?: number;
  readonly stopper?: Stopper;
  /** This client stops after a sample for which this is true (e.g. refused: a real client goes elsewhere). */
  readonly stopClientAfter?: (sample: Sample) => boolean;
  /** Told of each sample as it settles, so a test can wait for what the load has done so far. */
  readonly onSample?: (sample: Sample) => void;
  /** Told as each request is sent (its bytes handed to the kernel, at `sentAt`), so a test can act while it is in flight. */
  readonly onSent?: (client: number, sentAt: number) => void;
  /**
   * How long each client waits after an answer before its next request (default 0: at once). Paced clients send at a
   * rate of their own while the server keeps up, so what each worker serves follows the connections it holds rather
   * than how much CPU it gets.
   */
  readonly pauseMs?: number;
}

/** `clients` clients, each sending its next request when the previous one settled. */
export async function closedLoop(options: ClosedLoopOptions): Promise<Sample[]> {
  const samples: Sample[] = [];
  const until = Date.now() + options.durationMs;
  const client = async (n: number) => {
    const connection =
      options.keepAlive === false ? undefined : new KeepAliveConnection(new URL(options.baseUrl).origin);
    try {
      for (let i = 0; i < options.maxRequestsPerClient && Date.now() < until && !options.stopper?.stopped; i++) {
        const sample = await send(options.baseUrl, options.next(n, i), {
          connection,
          timeoutMs: options.timeoutMs,
          client: n,
          requestId: `c${n}-${i}-${Date.now()}`,
          onSent: options.onSent && ((sentAt) => options.onSent?.(n, sentAt)),
        });
        samples.push(sample);
        options.onSample?.(sample);
        if (options.stopClientAfter?.(sample)) break;
        if (options.pauseMs) await sleep(options.pauseMs);
      }
    } finally {
      await connection?.close();
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, n) => client(n)));
  return samples;
}

export interface OpenLoopOptions {
  readonly baseUrl: string;
  /** Arrivals per second, independent of how fast the server answers (an open model). */
  readonly ratePerSecond: number;
  readonly durationMs: number;
  /** Requests in flight at most; an arrival beyond it is not sent and counted in `skipped`. */
  readonly maxInFlight: number;
  readonly next: (i: number) => Call;
  readonly timeoutMs?: number;
  /** `raw`: the lean client of raw-pool.ts instead of undici, for floods on a machine the server shares. */
  readonly client?: 'undici' | 'raw';
}

/** Sends `ratePerSecond × durationMs` requests on schedule over a keep-alive pool; waits for all to settle. */
export async function openLoop(
  options: OpenLoopOptions,
): Promise<{ samples: Sample[]; skipped: number; sentPerSecond: number }> {
  // Keep-alive connections, at most one per request in flight; the one used last is used first, as node's agents do.
  const origin = new URL(options.baseUrl).origin;
  const idle: KeepAliveConnection[] = [];
  const opened: KeepAliveConnection[] = [];
  const sendOnIdle = async (call: Call, timeoutMs: number): Promise<Sample> => {
    const connection = idle.pop() ?? opened[opened.push(new KeepAliveConnection(origin)) - 1]!;
    try {
      return await send(options.baseUrl, call, { connection, timeoutMs });
    } finally {
      idle.push(connection);
    }
  };
  const raw = options.client === 'raw' ? new RawPool(options.baseUrl) : undefined;
  const timeoutMs = options.timeoutMs ?? 5000;
  const total = Math.round((options.ratePerSecond * options.durationMs) / 1000);
  const pending: Promise<void>[] = [];
  const samples: Sample[] = [];
  let inFlight = 0;
  let skipped = 0;
  const started = performance.now();
  try {
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / options.ratePerSecond;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      if (inFlight >= options.maxInFlight) {
        skipped++;
        continue;
      }
      inFlight++;
      const call = options.next(i);
      pending.push(
        (raw ? raw.send(call, timeoutMs) : sendOnIdle(call, timeoutMs)).then((sample) => {
          inFlight--;
          samples.push(sample);
        }),
      );
    }
    const sentPerSecond = ((total - skipped) * 1000) / (performance.now() - started);
    await Promise.all(pending);
    return { samples, skipped, sentPerSecond };
  } finally {
    await Promise.all(opened.map((connection) => connection.close()));
    raw?.destroy();
  }
}

/** One request at a time every `intervalMs` until stopped or `maxMs` passed (a health checker, a scraper). */
export async function probe(
  baseUrl: string,
  call: Call,
  options: { intervalMs: number; maxMs: number; stopper: Stopper; timeoutMs?: number },
): Promise<Sample[]> {
  const samples: Sample[] = [];
  const until = Date.now() + options.maxMs;
  for (
    let i = 0;
    i < Math.ceil(options.maxMs / options.intervalMs) && Date.now() < until && !options.stopper.stopped;
    i++
  ) {
    const sample = await send(baseUrl, call, {
      timeoutMs: options.timeoutMs ?? 5000,
      requestId: `probe-${Date.now()}-${i}`,
    });
    samples.push(sample);
    await sleep(Math.max(0, options.intervalMs - sample.ms));
  }
  return samples;
}

/** Nearest-rank percentile; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Counts outcomes as `200`, `503`, `ECONNRESET`... for failure messages and summaries. */
export function tally(samples: readonly Sample[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of samples) {
    const key = s.error ?? String(s.status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
