import type { Logger } from 'pino';
import { withDeadline } from '../deadline/with-deadline.js';
import type { PooledConnection } from './pooled-connection.js';
import { readServerIdentity } from './server-identity.js';
import type { WritableServer } from './writable-server.js';

// A ping is one round trip; one that takes longer than this is on a path not worth keeping.
const pingTimeoutMs = 500;

/**
 * The check before every hand-out. The common case (alive, young, recently used) is answered synchronously, so the
 * hot path never waits for it: the ping is only for a connection idle long enough that a NAT, a firewall or a
 * failover may have dropped its path unseen (HikariCP's aliveBypassWindowMs idea).
 *
 * With `writable` (DB_FOLLOW_PRIMARY), a connection to a server that no longer takes writes is never handed out, and
 * once per interval per server one hand-out asks its server whether it still does (its answer also proves the
 * connection alive): reads leave a demoted primary even when nothing writes to find out.
 */
export function createConnectionCheck(
  options: { readonly pingAfterIdleMs: number },
  deps: { readonly now: () => number; readonly logger: Logger; readonly writable?: WritableServer | undefined },
): (pooled: PooledConnection) => boolean | Promise<boolean> {
  const { now, logger, writable } = deps;

  async function stillWritable(pooled: PooledConnection, serverId: number): Promise<boolean> {
    const identity = await withDeadline(pingTimeoutMs, () => readServerIdentity(pooled.connection), {
      what: 'asking whether the server takes writes',
    }).catch(() => undefined);
    if (!identity) {
      pooled.dead = true;
      pooled.closeReason = 'failed_ping';
      logger.warn(
        { threadId: pooled.threadId },
        'connection did not answer whether its server takes writes; discarding it',
      );
      return false;
    }
    pooled.releasedAt = now();
    if (!identity.readOnly) return true;
    pooled.closeReason = 'read_only';
    logger.warn({ serverId }, 'the server no longer takes writes: its connections leave the pool');
    writable?.demote(serverId);
    return false;
  }

  async function ping(pooled: PooledConnection): Promise<boolean> {
    const alive = await withDeadline(pingTimeoutMs, () => pooled.connection.ping(), { what: 'ping' }).then(
      () => true,
      () => false,
    );
    if (alive) {
      pooled.releasedAt = now();
      return true;
    }
    // A ping left unanswered is still queued on the connection: it must never be used again.
    pooled.dead = true;
    pooled.closeReason = 'failed_ping';
    logger.warn({ threadId: pooled.threadId }, 'idle connection failed its ping; discarding it');
    return false;
  }

  return (pooled) => {
    if (pooled.dead) return false;
    const at = now();
    if (at >= pooled.expiresAt) {
      pooled.closeReason = 'max_lifetime';
      return false;
    }
    const { serverId } = pooled;
    if (writable && serverId !== undefined) {
      if (writable.isStale(serverId)) {
        pooled.closeReason ??= 'stale_server';
        return false;
      }
      if (writable.checkDue(serverId)) return stillWritable(pooled, serverId);
    }
    if (at - pooled.releasedAt < options.pingAfterIdleMs) return true;
    return ping(pooled);
  };
}
