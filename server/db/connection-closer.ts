import type { Socket } from 'node:net';
import type { Connection } from 'mysql2/promise';
import type { Logger } from 'pino';
import { withDeadline } from '../deadline/with-deadline.js';
import type { ThreadKiller } from './thread-killer.js';

/*
 * The one rule for giving up a connection: it is closed AND its server thread ends. Closing our socket is not enough:
 * on a path that died silently (a frozen NAT or proxy, a paused host) or with a stalled server, MySQL never sees the
 * close, and the thread stays, holding its locks and one of max_connections, until wait_timeout, hours later. So:
 *
 * - `quit` (idle timeout, lifetime, a lower ceiling, shutdown): COM_QUIT, and the server must close the socket within
 *   `quitTimeoutMs`; if it does not, the connection is abandoned.
 * - `abandon` (a statement or ping past its deadline, a create or registration given up, a coordination step that
 *   timed out): the socket is destroyed and the thread KILLed from another connection (thread-killer.ts).
 *
 * A connection the server closed itself (its socket ended or was reset) is never killed: after a MySQL restart thread
 * ids start again from 1, and the same id may now belong to someone else's new connection. For the same reason a
 * connection whose server is known (`serverId`, its @@server_id) is killed only on that server: after a failover
 * DATABASE_URL reaches another one, where its thread id may be a stranger's (thread-killer.ts).
 *
 * Idempotent per connection: every caller gets the same promise, which settles once the thread is gone (or the kill
 * was given up at the killer's deadline).
 */

export type CloseHow = 'quit' | 'abandon';

export interface ConnectionCloser {
  /** `serverId`: the @@server_id the connection reached, when known; its thread is then killed on that server only. */
  close(connection: Connection, how: CloseHow, serverId?: number): Promise<void>;
}

/** The driver's socket (mysql2 keeps it on the core connection that the promise wrapper wraps). */
function socketOf(connection: Connection): Socket | undefined {
  return (connection as unknown as { connection?: { stream?: Socket } }).connection?.stream;
}

/** True when the server ended the connection itself: we saw its FIN, or a reset. */
export function serverClosed(connection: Connection): boolean {
  const socket = socketOf(connection);
  if (!socket) return true;
  const code = (socket.errored as { code?: unknown } | null)?.code;
  return socket.readableEnded || code === 'ECONNRESET' || code === 'EPIPE';
}

function closedSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once('close', () => resolve());
  });
}

export function createConnectionCloser(
  options: { readonly quitTimeoutMs: number },
  deps: { readonly killer: ThreadKiller; readonly logger: Logger },
): ConnectionCloser {
  const closing = new WeakMap<Connection, Promise<void>>();

  async function quit(connection: Connection): Promise<boolean> {
    const socket = socketOf(connection);
    if (!socket) return true;
    try {
      await withDeadline(
        options.quitTimeoutMs,
        async () => {
          await connection.end();
          await closedSocket(socket);
        },
        { what: 'COM_QUIT' },
      );
      return true;
    } catch {
      return false;
    }
  }

  async function abandon(connection: Connection, serverId: number | undefined): Promise<void> {
    const threadId = connection.threadId;
    const ended = serverClosed(connection);
    // destroy() on the driver only half-closes (FIN) and keeps the socket; the socket itself is let go here.
    connection.destroy();
    socketOf(connection)?.destroy();
    if (ended || threadId === null || threadId === undefined) return;
    if (!(await deps.killer.kill(threadId, serverId)))
      deps.logger.warn({ threadId }, 'could not kill the server thread of an abandoned connection');
  }

  return {
    close(connection, how, serverId) {
      let done = closing.get(connection);
      if (!done) {
        done = (async () => {
          if (serverClosed(connection)) {
            socketOf(connection)?.destroy();
            return;
          }
          if (how === 'quit' && (await quit(connection))) return;
          await abandon(connection, serverId);
        })();
        closing.set(connection, done);
      }
      return done;
    },
  };
}
