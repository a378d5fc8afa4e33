import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectionSet, dispatchRequest } from '../engine/connections.js';
import { newHistogram } from '../engine/recorder.js';

/*
 * The benches' steady load, on the load tester's own client (undici, one keep-alive client per connection, latencies
 * in an HDR histogram): `connections` connections, each sending its next request as soon as the previous one is
 * answered, for `durationSeconds`; with `overallRate`, no faster than that many requests per second over all of them.
 * Counted so that a request cut off by the run's end is not a failure.
 */

export interface LoadResult {
  /** Every request sent, answered or not (timeouts, socket errors and requests still in flight at the end included). */
  readonly sent: number;
  /** Requests answered with any status. */
  readonly answered: number;
  /** 2xx answers. */
  readonly ok: number;
  /**
   * Requests still in flight when the run's time was up (one per connection at most): neither answered nor failed.
   * Every other request sent counts, and a success rate is ok ÷ (sent − inFlightAtEnd).
   */
  readonly inFlightAtEnd: number;
  /** Requests that ended without a 2xx: non-2xx answers, timeouts and socket errors. */
  readonly failed: number;
  /** Answers per second of the run. */
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  /** Requests that got no answer: socket errors and timeouts. */
  readonly errors: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly headers?: Record<string, string>;
  readonly method?: 'GET' | 'POST';
  readonly body?: string;
  /** At most this many requests per second over all connections, instead of as fast as the server answers. */
  readonly overallRate?: number;
  /** A request unanswered this long is given up (an error). */
  readonly timeoutMs?: number;
  /**
   * When the time is up, let the requests in flight finish (still counted as in flight at the end, not as answered)
   * before closing the connections, instead of cutting them off: the server then abandons none of them, and its
   * work for every request sent is done by the time the run returns.
   */
  readonly drain?: boolean;
}

const defaultTimeoutMs = 10_000;

/** The load from this process. */
export async function runSteadyLoad(options: LoadOptions): Promise<LoadResult> {
  const url = new URL(options.url);
  const connections = new ConnectionSet(url.origin, options.connections, options.timeoutMs ?? defaultTimeoutMs);
  const headers = Object.entries(options.headers ?? {}).flat();
  if (options.body !== undefined && !options.headers?.['content-type'])
    headers.push('content-type', 'application/json');
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const latency = newHistogram();
  const counts = { sent: 0, answered: 0, ok: 0, errors: 0 };
  const startedAt = performance.now();
  const endsAt = startedAt + options.durationSeconds * 1000;
  const intervalMs = options.overallRate ? 1000 / options.overallRate : 0;
  let slot = 0;
  let running = true;
  const stopped = sleep(options.durationSeconds * 1000).then(() => (running = false));
  const connection = async (index: number) => {
    const client = connections.get(index);
    while (running) {
      if (intervalMs > 0) {
        const due = startedAt + slot++ * intervalMs;
        if (due >= endsAt) return;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        if (!running) return;
      }
      const sentAt = performance.now();
      counts.sent++;
      const reply = await dispatchRequest(
        client,
        { path: `${url.pathname}${url.search}`, method: options.method ?? 'GET', headers, body },
        false,
      );
      // Ended by the run's end, not by the server: in flight at the end.
      if (!running) return;
      if (reply.error) {
        counts.errors++;
        continue;
      }
      counts.answered++;
      if (reply.status >= 200 && reply.status < 300) counts.ok++;
      latency.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
    }
  };
  const users = Array.from({ length: options.connections }, (_, index) => connection(index));
  await stopped;
  const elapsedS = (performance.now() - startedAt) / 1000;
  if (options.drain) await Promise.all(users);
  await connections.destroy();
  await Promise.all(users);
  const ended = counts.answered + counts.errors;
  const result: LoadResult = {
    sent: counts.sent,
    answered: counts.answered,
    ok: counts.ok,
    inFlightAtEnd: counts.sent - ended,
    failed: ended - counts.ok,
    requestsPerSecond: counts.answered / elapsedS,
    p50Ms: latency.getValueAtPercentile(50) / 1000,
    p99Ms: latency.getValueAtPercentile(99) / 1000,
    non2xx: counts.answered - counts.ok,
    errors: counts.errors,
  };
  latency.destroy();
  return result;
}

/** The same load from a child process, so that its CPU is not the measured process's. */
export function runSteadyLoadInChild(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [resolve(__dirname, 'steady-load-process.js'), JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      try {
        if (code !== 0) throw new Error(`the load's process exited ${code}`);
        resolveRun(JSON.parse(text) as LoadResult);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

/** 2xx ÷ every request that ended (answered, timed out or failed on its socket). */
export function successRate(load: LoadResult): number {
  const ended = load.sent - load.inFlightAtEnd;
  return ended === 0 ? 0 : load.ok / ended;
}
