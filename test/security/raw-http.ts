import { connect } from 'node:net';

/**
 * A deliberately dumb HTTP/1.1 client on a raw socket: it sends exactly the bytes it is given (duplicate
 * headers, lying Content-Length, invalid UTF-8, smuggling attempts: all things fetch refuses to send) and
 * parses whatever comes back until the server closes the connection.
 */

export interface RawResponse {
  readonly status: number;
  /** Lower-cased names; duplicates kept. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly body: string;
}

export interface RawResult {
  readonly responses: readonly RawResponse[];
  /** How the exchange ended: the server closed, our timeout fired, or a socket error (e.g. ECONNRESET). */
  readonly ended: 'closed' | 'timeout' | `error:${string}`;
  /** Bytes that did not parse as a response (a server bug if non-empty). */
  readonly garbage: string;
  readonly elapsedMs: number;
}

export interface RawOptions {
  /** Half-close our side this long after writing (a client giving up on a body it promised). */
  readonly halfCloseAfterMs?: number;
  readonly timeoutMs?: number;
  /** HEAD responses announce a length but carry no body. */
  readonly method?: string;
}

export function rawRequest(port: number, data: Buffer, options: RawOptions = {}): Promise<RawResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    let halfClose: NodeJS.Timeout | undefined;
    const finish = (ended: RawResult['ended']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(halfClose);
      socket.destroy();
      const { responses, garbage } = parseResponses(Buffer.concat(chunks), options.method ?? 'GET');
      resolve({ responses, ended, garbage, elapsedMs: performance.now() - started });
    };
    const timer = setTimeout(() => finish('timeout'), options.timeoutMs ?? 8000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => finish('closed'));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(`error:${error.code ?? error.message}`));
    socket.write(data, () => {
      if (options.halfCloseAfterMs !== undefined) halfClose = setTimeout(() => socket.end(), options.halfCloseAfterMs);
    });
  });
}

function parseResponses(buffer: Buffer, method: string): { responses: RawResponse[]; garbage: string } {
  const responses: RawResponse[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    const headEnd = buffer.indexOf('\r\n\r\n', offset);
    const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(buffer.subarray(offset, offset + 16).toString('latin1'));
    if (headEnd < 0 || !statusMatch) break;
    const [, ...lines] = buffer.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const headers = new Map<string, string[]>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
    }
    const status = Number(statusMatch[1]);
    let cursor = headEnd + 4;
    let body: Buffer = Buffer.alloc(0);
    const length = headers.get('content-length')?.[0];
    if (status < 200 || status === 204 || status === 304 || method === 'HEAD') {
      // no body
    } else if (headers.get('transfer-encoding')?.some((value) => /chunked/i.test(value))) {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = buffer.indexOf('\r\n', cursor);
        if (lineEnd < 0) break;
        const size = parseInt(buffer.subarray(cursor, lineEnd).toString('latin1'), 16);
        cursor = lineEnd + 2;
        if (!(size > 0)) {
          cursor = Math.min(buffer.length, cursor + 2);
          break;
        }
        parts.push(buffer.subarray(cursor, cursor + size));
        cursor += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (length !== undefined) {
      body = buffer.subarray(cursor, cursor + Number(length));
      cursor += body.length;
    } else {
      body = buffer.subarray(cursor);
      cursor = buffer.length;
    }
    responses.push({ status, headers, body: body.toString('utf8') });
    offset = cursor;
  }
  return { responses, garbage: buffer.subarray(offset).toString('latin1') };
}

export type HeaderList = readonly (readonly [string, string | Buffer])[];

/**
 * Bytes of one request. Adds `Host` and `Connection: close` unless the list already has them, and a
 * truthful Content-Length when there is a body and neither Content-Length nor Transfer-Encoding is given.
 */
export function buildRequest(method: string, path: string, headers: HeaderList = [], body?: string | Buffer): Buffer {
  const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name);
  const bodyBytes = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const all: [string, string | Buffer][] = [];
  if (!has('host')) all.push(['Host', '127.0.0.1']);
  all.push(...headers.map(([n, v]) => [n, v] as [string, string | Buffer]));
  if (!has('connection')) all.push(['Connection', 'close']);
  if (bodyBytes && !has('content-length') && !has('transfer-encoding'))
    all.push(['Content-Length', String(bodyBytes.length)]);
  const parts: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1\r\n`, 'latin1')];
  for (const [name, value] of all)
    parts.push(
      Buffer.from(`${name}: `, 'latin1'),
      Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1'),
      Buffer.from('\r\n'),
    );
  parts.push(Buffer.from('\r\n'));
  if (bodyBytes) parts.push(bodyBytes);
  return Buffer.concat(parts);
}

/** A chunked body from the given pieces (optionally without the final zero chunk: a truncated stream). */
export function chunked(pieces: readonly string[], terminate = true): Buffer {
  const out = pieces.map((piece) => `${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`).join('');
  return Buffer.from(terminate ? `${out}0\r\n\r\n` : out, 'utf8');
}
