import { connect, type Socket } from 'node:net';
import { codeOf, type Call, type Sample } from './sample.js';

/**
 * A lean HTTP/1.1 client for floods: requests serialised by hand onto raw keep-alive sockets (one request at a time
 * per socket), responses read by Content-Length. node:http costs the client enough CPU per request that, on a machine
 * whose cores the server shares, the load generator would be measuring itself. Not a general client: no
 * chunked bodies, no redirects, no pipelining.
 */
export class RawPool {
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
      const done = (
        status: number | undefined,
        error: string | undefined,
        text = '',
        retryAfter?: string,
        reusable = false,
      ) => {
        clearTimeout(timer);
        socket.off('data', onData).off('error', onError).off('close', onClose);
        if (reusable) this.idle.push(socket);
        else socket.destroy();
        resolve({
          client: -1,
          path: call.path,
          requestId: '',
          startedAt,
          sentAt: startedAt,
          endedAt: Date.now(),
          reusedSocket: reused,
          ms: performance.now() - t0,
          status,
          error,
          retryAfter,
          body: text,
        });
      };
      const onData = (chunk: Buffer) => {
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        const headers = received.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
        if (received.length < end + 4 + length) return;
        const retryAfter = /\r\nretry-after: *(\S+)/i.exec(headers)?.[1];
        done(
          Number(headers.slice(9, 12)),
          undefined,
          received.toString('utf8', end + 4, end + 4 + length),
          retryAfter,
          !/\r\nconnection: *close/i.test(headers),
        );
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
