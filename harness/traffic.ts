import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/*
 * A bounded concurrent-traffic driver for fault and overload tests: every loop is bounded in count and in
 * time, every request has a hard client timeout (so a hang is recorded as `TIMEOUT`, never waited out), and
 * every request is recorded with its timings so a test can ask what happened before or after a fault.
 * Plain node:http (not fetch) so connection reuse is explicit: one keep-alive socket per client.
 */

export interface Call {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly json?: unknown;
}

export interface Sample {
  readonly client: number;
  readonly path: string;
  readonly requestId: string;
  /** Epoch ms when the request was started, when its bytes were handed to the kernel, when it settled. */
  readonly startedAt: number;
  readonly sentAt: number | undefined;
  readonly endedAt: number;
  /** Sent on a keep-alive connection an earlier request already used (so a worker owned it), not a new one. */
  readonly reusedSocket: boolean;
  /** Latency in ms (monotonic clock). */
  readonly ms: number;
  readonly status: number | undefined;
  /** Socket-level failure: ECONNRESET, ECONNREFUSED, TIMEOUT (our client timeout)... */
  readonly error: string | undefined;
  readonly retryAfter: string | undefined;
  readonly body: string;
}

export interface SendOptions {
  readonly agent?: Agent | false;
  readonly timeoutMs?: number;
  readonly client?: number;
  readonly requestId?: string;
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
      resolve({ client: options.client ?? -1, path: call.path, requestId, startedAt, sentAt, endedAt: Date.now(), reusedSocket, ms: performance.now() - t0, status, error, retryAfter, body: text });
    };
    const req = httpRequest(`${baseUrl}${call.path}`, { method: call.method ?? 'GET', headers, agent: options.agent ?? false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => finish(res.statusCode, undefined, text, header(res.headers['retry-after'])));
      res.on('error', (error) => finish(res.statusCode, codeOf(error), text));
    });
    const timer = setTimeout(() => {
      finish(undefined, 'TIMEOUT', '');
      req.destroy();
    }, options.timeoutMs ?? 5000);
    req.on('finish', () => {
      sentAt = Date.now();
      reusedSocket = req.reusedSocket;
    });
    req.on('error', (error) => finish(undefined, codeOf(error), ''));
    req.end(body);
  });
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function codeOf(error: unknown): string {
  const e = error as { code?: unknown; cause?: { code?: unknown }; message?: unknown };
  return String(e.code ?? e.cause?.code ?? e.message);
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
}

/** `clients` clients, each sending its next request when the previous one settled. */
export async function closedLoop(options: ClosedLoopOptions): Promise<Sample[]> {
  const samples: Sample[] = [];
  const until = Date.now() + options.durationMs;
  const client = async (n: number) => {
    const agent = options.keepAlive === false ? false : new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < options.maxRequestsPerClient && Date.now() < until && !options.stopper?.stopped; i++) {
        const sample = await send(options.baseUrl, options.next(n, i), { agent, timeoutMs: options.timeoutMs, client: n, requestId: `c${n}-${i}-${Date.now()}` });
        samples.push(sample);
        if (options.stopClientAfter?.(sample)) break;
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
export async function openLoop(options: OpenLoopOptions): Promise<{ samples: Sample[]; skipped: number; sentPerSecond: number }> {
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
      pending.push((raw ? raw.send(call, timeoutMs) : send(options.baseUrl, call, { agent, timeoutMs })).then((sample) => {
        inFlight--;
        samples.push(sample);
      }));
    }
    const sentPerSecond = ((total - skipped) * 1000) / (performance.now() - started);
    await Promise.all(pending);
    return { samples, skipped, sentPerSecond };
  } finally {
    agent.destroy();
    raw?.destroy();
  }
}

/**
 * A lean HTTP/1.1 client for floods: requests serialised by hand onto raw keep-alive sockets (one request at a time
 * per socket), responses read by Content-Length. node:http costs the client enough CPU per request that, on a machine
 * whose cores the server shares, the load generator would be measuring itself. Not a general client: no
 * chunked bodies, no redirects, no pipelining.
 */
class RawPool {
  private readonly idle: Socket[] = [];
  private readonly all = new Set<Socket>();
  private readonly host: string;
  private readonly port: number;

  constructor(baseUrl: string) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
  }

  send(call: Call, timeoutMs: number): Promise<Sample> {
    const body = call.json === undefined ? '' : JSON.stringify(call.json);
    let head = `${call.method ?? 'GET'} ${call.path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n`;
    for (const [name, value] of Object.entries(call.headers ?? {})) head += `${name}: ${value}\r\n`;
    if (body !== '') head += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
    const reused = this.idle.length > 0;
    // Oldest idle socket first: arrivals spread over every open connection (so over both workers), as many clients would.
    const socket = this.idle.shift() ?? this.connect();
    const startedAt = Date.now();
    const t0 = performance.now();
    return new Promise((resolve) => {
      let received: Buffer = Buffer.alloc(0);
      const done = (status: number | undefined, error: string | undefined, text = '', retryAfter?: string, reusable = false) => {
        clearTimeout(timer);
        socket.off('data', onData).off('error', onError).off('close', onClose);
        if (reusable) this.idle.push(socket);
        else socket.destroy();
        resolve({ client: -1, path: call.path, requestId: '', startedAt, sentAt: startedAt, endedAt: Date.now(), reusedSocket: reused, ms: performance.now() - t0, status, error, retryAfter, body: text });
      };
      const onData = (chunk: Buffer) => {
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        const headers = received.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
        if (received.length < end + 4 + length) return;
        const retryAfter = /\r\nretry-after: *(\S+)/i.exec(headers)?.[1];
        done(Number(headers.slice(9, 12)), undefined, received.toString('utf8', end + 4, end + 4 + length), retryAfter, !/\r\nconnection: *close/i.test(headers));
      };
      const onError = (error: unknown) => done(undefined, codeOf(error));
      const onClose = () => done(undefined, 'ECONNRESET');
      const timer = setTimeout(() => done(undefined, 'TIMEOUT'), timeoutMs);
      socket.on('data', onData).once('error', onError).once('close', onClose);
      socket.write(`${head}\r\n${body}`);
    });
  }

  private connect(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    this.all.add(socket);
    socket.once('close', () => {
      this.all.delete(socket);
      const idle = this.idle.indexOf(socket);
      if (idle >= 0) this.idle.splice(idle, 1);
    });
    socket.on('error', () => {}); // reported by the exchange that owns the socket
    return socket;
  }

  destroy(): void {
    for (const socket of this.all) socket.destroy();
  }
}

/** One request at a time every `intervalMs` until stopped or `maxMs` passed (a health checker, a scraper). */
export async function probe(baseUrl: string, call: Call, options: { intervalMs: number; maxMs: number; stopper: Stopper; timeoutMs?: number }): Promise<Sample[]> {
  const samples: Sample[] = [];
  const until = Date.now() + options.maxMs;
  for (let i = 0; i < Math.ceil(options.maxMs / options.intervalMs) && Date.now() < until && !options.stopper.stopped; i++) {
    const sample = await send(baseUrl, call, { timeoutMs: options.timeoutMs ?? 5000, requestId: `probe-${Date.now()}-${i}` });
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

