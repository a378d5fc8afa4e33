import type { ServerIdentity } from './server-identity.js';

/*
 * Which server takes writes, as one pool has seen it through DATABASE_URL (docs/failover.md). A pool keeps connections
 * to that server only: a connection to a server that refuses writes (a demoted primary, a replica the endpoint
 * pointed at) or to a server a failover replaced is stale, and leaves the pool with every other connection to it.
 *
 * What it learns from:
 * - every new connection: a server that takes writes and is not the one seen so far is the new primary (a failover,
 *   seen from this side); a read-only one is not kept, and the create waits for a writable one;
 * - a statement refused as read-only (errno 1290, 1792, 1836): that server was demoted;
 * - a check, at most once per `checkIntervalMs` per server, on one hand-out: so reads leave a demoted server within
 *   that interval even when nothing writes.
 *
 * It assumes one server takes writes at a time. Behind a multi-writer cluster (Galera with every node writable)
 * connections would keep moving: turn DB_FOLLOW_PRIMARY off there.
 */

export interface WritableServer {
  /** A new connection's server. False: it refuses writes, and the connection must not be kept. */
  admit(identity: ServerIdentity): boolean;
  /** The server refused a write as read-only, or a check found it so: its connections are stale from now on. */
  demote(serverId: number): void;
  /** True for a connection to a server that refuses writes or that a failover replaced. */
  isStale(serverId: number | undefined): boolean;
  /**
   * True when a hand-out of a connection to this server should ask whether it still takes writes: once per interval
   * per server (the first asker of each interval is told, the others are not).
   */
  checkDue(serverId: number): boolean;
  /** The server that took writes last, if any. */
  current(): number | undefined;
}

export interface WritableServerDeps {
  /** Monotonic clock in milliseconds. */
  readonly now: () => number;
  /** Connections to some server became stale: the pool lets the idle ones go now, the busy ones when they come home. */
  readonly onStale: () => void;
  /** The writable server changed (`from` undefined: the first one seen). */
  readonly onChange?: (to: number, from: number | undefined) => void;
}

export function createWritableServer(
  options: { readonly checkIntervalMs: number },
  deps: WritableServerDeps,
): WritableServer {
  const { now, onStale } = deps;
  let current: number | undefined;
  let last: number | undefined;
  const demoted = new Set<number>();
  const checkedAt = new Map<number, number>();

  function demote(serverId: number): void {
    if (demoted.has(serverId)) return;
    demoted.add(serverId);
    if (current === serverId) current = undefined;
    onStale();
  }

  return {
    admit({ serverId, readOnly }) {
      checkedAt.set(serverId, now());
      if (readOnly) {
        demote(serverId);
        return false;
      }
      demoted.delete(serverId);
      if (current === serverId) return true;
      const from = last;
      current = serverId;
      last = serverId;
      if (from !== serverId) deps.onChange?.(serverId, from);
      // Everything on another server is stale now (when there was anything).
      if (from !== undefined) onStale();
      return true;
    },
    demote,
    isStale(serverId) {
      if (serverId === undefined) return false;
      return demoted.has(serverId) || (current !== undefined && serverId !== current);
    },
    checkDue(serverId) {
      const at = now();
      if (at - (checkedAt.get(serverId) ?? Number.NEGATIVE_INFINITY) < options.checkIntervalMs) return false;
      checkedAt.set(serverId, at);
      return true;
    },
    current: () => current,
  };
}
