import { Agent, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { RawPool } from './raw-pool.js';
import { codeOf, type Call, type Sample } from './sample.js';

// What every user of the traffic driver reads its results with.
export { codeOf, type Call, type Sample };

/*
 * A bounded concurrent-traffic driver for fault and overload tests: every loop is bounded in count and in
 * time, every request has a hard client timeout (so a hang is recorded as `TIMEOUT`, never waited out), and
 * every request is recorded with its timings so a test can ask what happened before or after a fault.
 * Plain node:http (not fetch) so connection reuse is explicit: one keep-alive socket per client.
 */

export interface SendOptions {
  readonly agent?: Agent | false;
  readonly timeoutMs?: number;
  readonly client?: number;
  readonly requestId?: string;
  /** Told when the request's bytes have been handed to the kernel (the sample's `sentAt`). */
  readonly onSent?: () => void;
}

let sequence = 0;

/** One request; never rejects: failures are samples with `error` set. */
export function send(baseUrl: string, call: Call, options: SendOptions = {}): Promise<Sample> {
  const requestId = options.requestId ?? `traffic-${process.pid}-${++sequence}`;
  const body = call.json === undefined ? undefined : JSON.stringify(call.json);
  const headers: Record<string, string> = { 'X-Request-Id': requestId, ...call.headers };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const startedAt = Date.now();
  const t0 = performance.now();
  return new Promise((resolve) => {
    let sentAt: number | undefined;
    let reusedSocket = false;
    let settled = false;
    const finish = (status: number | undefined, error: string | undefined, text: string, retryAfter?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
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
        body: text,
      });
    };
    const req = httpRequest(
      `${baseUrl}${call.path}`,
      { method: call.method ?? 'GET', headers, agent: options.agent ?? false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => finish(res.statusCode, undefined, text, header(res.headers['retry-after'])));
        res.on('error', (error) => finish(res.statusCode, codeOf(error), text));
      },
    );
    const timer = setTimeout(() => {
      finish(undefined, 'TIMEOUT', '');
      req.destroy();
    }, options.timeoutMs ?? 5000);
    req.on('finish', () => {
      sentAt = Date.now();
      reusedSocket = req.reusedSocket;
      options.onSent?.();
    });
    req.on('error', (error) => finish(undefined, codeOf(error), ''));
    req.end(body);
  });
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
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
  /** Told as each request is sent (its bytes handed to the kernel), so a test can act while it is in flight. */
  readonly onSent?: (client: number) => void;
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
    const agent = options.keepAlive === false ? false : new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < options.maxRequestsPerClient && Date.now() < until && !options.stopper?.stopped; i++) {
        const sample = await send(options.baseUrl, options.next(n, i), {
          agent,
          timeoutMs: options.timeoutMs,
          client: n,
          requestId: `c${n}-${i}-${Date.now()}`,
          onSent: options.onSent && (() => options.onSent?.(n)),
        });
        samples.push(sample);
        options.onSample?.(sample);
        if (options.stopClientAfter?.(sample)) break;
        if (options.pauseMs) await sleep(options.pauseMs);
      }
    } finally {
      if (agent) agent.destroy();
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
  /** `raw`: the lean client below instead of node:http, for floods on a machine the server shares. */
  readonly client?: 'node' | 'raw';
}

/** Sends `ratePerSecond × durationMs` requests on schedule over a keep-alive pool; waits for all to settle. */
export async function openLoop(
  options: OpenLoopOptions,
): Promise<{ samples: Sample[]; skipped: number; sentPerSecond: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxInFlight });
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
        (raw ? raw.send(call, timeoutMs) : send(options.baseUrl, call, { agent, timeoutMs })).then((sample) => {
          inFlight--;
          samples.push(sample);
        }),
      );
    }
    const sentPerSecond = ((total - skipped) * 1000) / (performance.now() - started);
    await Promise.all(pending);
    return { samples, skipped, sentPerSecond };
  } finally {
    agent.destroy();
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
