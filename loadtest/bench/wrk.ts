import { spawn } from 'node:child_process';

/** One wrk run, parsed. wrk counts answered requests; what got no answer it reports as socket errors. */
export interface WrkResult {
  /** Answered, plus every socket error (connect, read, write, timeout): the requests wrk tried. */
  readonly sent: number;
  readonly answered: number;
  readonly non2xx: number;
  readonly ok: number;
  readonly errors: {
    readonly connect: number;
    readonly read: number;
    readonly write: number;
    readonly timeout: number;
  };
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
}

const unitMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string | undefined): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '');
  return match ? Number(match[1]) * unitMs[match[2]!]! : Number.NaN;
}

export function parseWrk(output: string): WrkResult {
  const number = (pattern: RegExp) => Number(pattern.exec(output)?.[1] ?? 0);
  const answered = number(/(\d+) requests in /);
  const non2xx = number(/Non-2xx or 3xx responses: (\d+)/);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = {
    connect: Number(socket?.[1] ?? 0),
    read: Number(socket?.[2] ?? 0),
    write: Number(socket?.[3] ?? 0),
    timeout: Number(socket?.[4] ?? 0),
  };
  const percentile = (p: number) => durationMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(output)?.[1]);
  return {
    sent: answered + errors.connect + errors.read + errors.write + errors.timeout,
    answered,
    non2xx,
    ok: answered - non2xx,
    errors,
    requestsPerSecond: number(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: percentile(50),
    p90Ms: percentile(90),
    p99Ms: percentile(99),
  };
}

export function runWrk(options: {
  url: string;
  connections: number;
  threads: number;
  durationSeconds: number;
  timeoutSeconds: number;
  headers?: Record<string, string>;
}): Promise<WrkResult> {
  const args = [
    '-t',
    String(options.threads),
    '-c',
    String(options.connections),
    '-d',
    `${options.durationSeconds}s`,
    '--timeout',
    `${options.timeoutSeconds}s`,
    '--latency',
  ];
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`);
  args.push(options.url);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', (error) => reject(new Error(`wrk: ${error.message} (apt-get install wrk)`)));
    child.once('exit', (code) =>
      code === 0 ? resolve(parseWrk(out)) : reject(new Error(`wrk exited ${code}: ${out}`)),
    );
  });
}
