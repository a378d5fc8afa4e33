import type { Logger } from 'pino';
import { withDeadline } from '../deadline/with-deadline.js';
import type { PooledConnection } from './pooled-connection.js';

// A ping is one round trip; one that takes longer than this is on a path not worth keeping.
const pingTimeoutMs = 500;

/**
 * The check before every hand-out. The common case (alive, young, recently used) is answered synchronously, so the
 * hot path never waits for it: the ping is only for a connection idle long enough that a NAT, a firewall or a
 * failover may have dropped its path unseen (HikariCP's aliveBypassWindowMs idea).
 */
export function createConnectionCheck(
  options: { readonly pingAfterIdleMs: number },
  deps: { readonly now: () => number; readonly logger: Logger },
): (pooled: PooledConnection) => boolean | Promise<boolean> {
  const { now, logger } = deps;

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
    if (at - pooled.releasedAt < options.pingAfterIdleMs) return true;
    return ping(pooled);
  };
}
