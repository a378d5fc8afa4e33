import { Client, type Dispatcher } from 'undici';

/**
 * `count` keep-alive HTTP/1.1 connections to one origin: one undici Client (one socket, no pipelining) per
 * connection. Not an undici Pool: Pool picks a free client by scanning all of them on every request, which at
 * 10,000 connections costs more CPU than the requests. A virtual user (closed model) owns its Client; the open
 * model borrows a free one from a stack. Clients open their socket on first use and reconnect by themselves.
 */
export class ConnectionSet {
  private readonly clients: Client[] = [];
  private readonly free: number[] = [];
  /** Sockets open now. */
  connected = 0;
  connectErrors = 0;

  constructor(
    private readonly origin: string,
    readonly size: number,
    private readonly timeoutMs: number,
  ) {
    for (let i = size - 1; i >= 0; i--) this.free.push(i);
  }

  get(index: number): Client {
    let client = this.clients[index];
    if (!client) {
      client = new Client(this.origin, {
        pipelining: 1,
        keepAliveTimeout: 30_000,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        connect: { timeout: Math.min(this.timeoutMs, 10_000) },
      });
      client.on('connect', () => this.connected++);
      client.on('disconnect', () => this.connected--);
      client.on('connectionError', () => this.connectErrors++);
      this.clients[index] = client;
    }
    return client;
  }

  /** A connection nobody is using (open model), or undefined when all `size` are busy. */
  acquire(): number | undefined {
    return this.free.pop();
  }

  release(index: number): void {
    this.free.push(index);
  }

  async destroy(): Promise<void> {
    await Promise.all(this.clients.map((client) => client?.destroy().catch(() => undefined)));
  }
}

export interface Reply {
  /** 0 when no response arrived (then `error` says why). */
  readonly status: number;
  readonly body: string | undefined;
  readonly error: Error | undefined;
}

/**
 * One request on `client`; never rejects. The body is kept when `keepBody` (login needs its token) and for
 * error statuses (their `error` code tells a pool deadline from a hashing overload); otherwise discarded.
 */
export function dispatchRequest(
  client: Dispatcher,
  options: Dispatcher.DispatchOptions,
  keepBody: boolean,
): Promise<Reply> {
  return new Promise((resolve) => {
    let status = 0;
    let keep = keepBody;
    let chunks: Buffer[] | undefined;
    client.dispatch(options, {
      onConnect() {},
      onHeaders(statusCode) {
        status = statusCode;
        keep = keepBody || statusCode >= 400;
        return true;
      },
      onData(chunk) {
        if (keep) {
          chunks ??= [];
          chunks.push(chunk);
        }
        return true;
      },
      onComplete() {
        const body = keep ? (chunks ? Buffer.concat(chunks).toString('utf8') : '') : undefined;
        resolve({ status, body, error: undefined });
      },
      onError(error) {
        resolve({ status: 0, body: undefined, error });
      },
    });
  });
}
