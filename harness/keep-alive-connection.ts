import type { Socket } from 'node:net';
import { buildConnector, Client } from 'undici';

/**
 * One keep-alive HTTP/1.1 connection to one origin (an undici Client: one socket at a time, no pipelining). It opens
 * on first use and again after the server closed it; `close` ends it.
 */
export class KeepAliveConnection {
  private client: Client;
  private socketPort: number | undefined;
  private sentOnSocket = 0;

  constructor(private readonly origin: string) {
    this.client = this.open();
  }

  /** The local port of the socket opened last: the same port means the same connection. */
  get localPort(): number | undefined {
    return this.socketPort;
  }

  /** The client to send the next request with. */
  get dispatcher(): Client {
    if (this.client.destroyed || this.client.closed) this.client = this.open();
    return this.client;
  }

  /** As a request is written: whether the socket it is written to carried an earlier request. */
  markSent(): boolean {
    return this.sentOnSocket++ > 0;
  }

  /** A request timed out before it reached a socket: the client is dropped, the next request opens a new one. */
  discard(): void {
    void this.client.destroy().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.client.destroy().catch(() => undefined);
  }

  private open(): Client {
    const connect = buildConnector({ timeout: 10_000 });
    return new Client(this.origin, {
      pipelining: 1,
      // Idle until the server closes it (as node's keep-alive agents keep it), not undici's default of seconds.
      keepAliveTimeout: 600_000,
      // The driver's own timer bounds every request (TIMEOUT); undici's would end some of them first, by other names.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: (options, callback) =>
        connect(options, (error, socket) => {
          if (socket) {
            this.socketPort = (socket as Socket).localPort;
            this.sentOnSocket = 0;
          }
          // buildConnector's callback takes (error, null) or (null, socket).
          if (error) callback(error, null);
          else callback(null, socket!);
        }),
    });
  }
}
