import mysql, { type Connection } from 'mysql2/promise';
import type { DbConnectionOptions } from '../config/config.js';
import { withDeadline } from '../deadline/with-deadline.js';
import type { CloseHow, ConnectionCloser } from '../db/connection-closer.js';
import { readServerIdentity } from '../db/server-identity.js';

/*
 * The coordination connection of a replica (APP_REPLICAS=auto): one at a time, opened with bounds MySQL itself
 * enforces, so that a replica that freezes mid-step holds nothing for long. wait_timeout ends a session idle in a
 * transaction or not (its locks released), the lock waits end after a second (row locks, metadata locks, FTWRL), and
 * READ COMMITTED lets every statement see what others committed. A connection it gives up on (a connect or setup that
 * failed or came too late, a session dropped) is closed and its server thread killed.
 */

// Seconds MySQL lets the session idle (in a transaction or not) before it ends it and releases its locks.
const sessionIdleSeconds = 3;
// Seconds any lock wait of the session may last.
const lockWaitSeconds = 1;

const sessionSettings =
  `SET SESSION wait_timeout = ${sessionIdleSeconds}, innodb_lock_wait_timeout = ${lockWaitSeconds},` +
  ` lock_wait_timeout = ${lockWaitSeconds}, net_read_timeout = ${sessionIdleSeconds}, net_write_timeout = ${sessionIdleSeconds}`;

export interface CoordinationSession {
  /** The open connection, or a new one (set up by `prepare` too: the replica registers it under its claim). */
  connection(): Promise<Connection>;
  /** The connection now, if one is open or opening. */
  current(): Promise<Connection> | undefined;
  /**
   * Gives up `which` (the current one by default) if it is still the current one: abandoned (closed and its thread
   * killed on its own server) or, with `quit`, closed with COM_QUIT first.
   */
  drop(which?: Promise<Connection>, how?: CloseHow): void;
  /** Forgets the current connection and closes it with COM_QUIT, within `deadlineMs`. */
  close(deadlineMs: number): Promise<void>;
}

export function createCoordinationSession(
  options: { readonly connection: DbConnectionOptions; readonly connectTimeoutMs: number },
  deps: { readonly closer: ConnectionCloser; readonly prepare: (connection: Connection) => Promise<void> },
): CoordinationSession {
  const { closer } = deps;
  let session: Promise<Connection> | undefined;
  // The server each connection reached: a thread id means something only there, so that is where it is killed.
  const servers = new WeakMap<Connection, number>();
  const close = (conn: Connection, how: CloseHow) => closer.close(conn, how, servers.get(conn));

  function drop(which: Promise<Connection> | undefined = session, how: CloseHow = 'abandon'): void {
    if (which === undefined || which !== session) return;
    session = undefined;
    which.then(
      (conn) => void close(conn, how),
      () => undefined,
    );
  }

  function connection(): Promise<Connection> {
    if (session) return session;
    const opening = withDeadline(
      options.connectTimeoutMs,
      async () => {
        const fresh = await mysql.createConnection({
          ...options.connection,
          connectTimeout: options.connectTimeoutMs,
          enableKeepAlive: true,
          timezone: 'Z',
        });
        (fresh as unknown as NodeJS.EventEmitter).on('error', () => drop(opening));
        try {
          await fresh.query(sessionSettings);
          await fresh.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
          servers.set(fresh, (await readServerIdentity(fresh)).serverId);
          await deps.prepare(fresh);
        } catch (error) {
          void close(fresh, 'abandon');
          throw error;
        }
        return fresh;
      },
      { what: 'coordination connect', late: (fresh) => void close(fresh, 'abandon') },
    );
    session = opening;
    opening.catch(() => drop(opening));
    return opening;
  }

  return {
    connection,
    current: () => session,
    drop,
    async close(deadlineMs) {
      const last = session;
      session = undefined;
      const conn = await last?.catch(() => undefined);
      if (conn)
        await withDeadline(deadlineMs, () => close(conn, 'quit'), {
          what: 'closing the coordination connection',
        }).catch(() => {});
    },
  };
}
