import { randomBytes } from 'node:crypto';
import type { Connection } from 'mysql2/promise';
import type { Logger } from 'pino';
import { liveBudget, type ConnectionBudget } from '../budget/connection-budget.js';
import { planStep, type ClaimView } from '../budget/live-shares.js';
import { ceilingFor, wantedBy, type ReplicaShape } from '../budget/replica-shape.js';
import { effectiveLimit, type ServerLimits } from '../budget/server-limits.js';
import type { DbConnectionOptions } from '../config/config.js';
import { DeadlineError, withDeadline } from '../deadline/with-deadline.js';
import { readServerLimits } from '../db/admin-connection.js';
import type { ConnectionCloser } from '../db/connection-closer.js';
import { errorCode } from '../db/db-errors.js';
import { createClaimObserver } from './claim-observer.js';
import { createCoordinationSession } from './coordination-session.js';
import * as claims from './replica-claims.js';
import type { PoolCeilings } from './pool-ceilings.js';

/*
 * APP_REPLICAS=auto: the primary's side of the live budget. Every `heartbeatMs`, on its one coordination connection:
 * renew the lease, grow into free room up to its share or publish a lower grant once the pools are down to it, tell
 * the workers the ceiling, and retire the claims of replicas that stopped renewing (server/live-shares/replica-claims.ts).
 *
 * Order is what keeps Σ of every replica's connections ≤ limit − reserve: a grant is raised before the pools may grow,
 * and lowered only after they have shrunk; another replica's grant is freed only once its threads are gone.
 *
 * Expiry is judged by each observer's own monotonic clock (claim-observer.ts). A replica that cannot renew for `leaseMs − heartbeatMs` (by its own monotonic clock, from
 * before the last renewal was sent) fences itself: ceiling 0, requests get 503. So it stops before any observer can
 * have seen a full lease without a change from it. It then joins again as a new claim.
 *
 * Everything the coordination holds on MySQL is bounded by MySQL itself (coordination-session.ts): a replica that
 * freezes mid-step holds nothing longer than the session's wait_timeout, and waits of its own end after a second.
 */

export interface ReplicaCoordinatorOptions {
  readonly connection: DbConnectionOptions;
  readonly shape: ReplicaShape;
  readonly workers: number;
  readonly reservedConnections: number;
  readonly heartbeatMs: number;
  readonly leaseMs: number;
}

export interface CoordinatorObserver {
  /** After every step: the budget as this replica sees it. */
  observed(budget: ConnectionBudget): void;
  shareChanged(direction: 'grow' | 'shrink'): void;
  renewFailed(): void;
  fenced(): void;
}

export interface ReplicaCoordinator {
  /** Joins and waits (up to `waitMs`) for a first share; the replica starts with ceiling 0 if none came. */
  start(waitMs: number): Promise<void>;
  budget(): ConnectionBudget;
  /**
   * Runs a read of MySQL's status on the coordination connection (the primary's one connection: it exists whether
   * or not the replica has a grant), within `timeoutMs`.
   */
  query<T>(sql: string, timeoutMs: number): Promise<T>;
  /**
   * The server behind DATABASE_URL may have changed (a failover): the next step opens a new coordination connection
   * (the old one is closed with COM_QUIT, its thread killed on its own server if it does not go).
   */
  reconnect(): void;
  /** After every pool is closed: frees the grant at once. Idempotent; gives up at `deadlineMs` (the claim expires). */
  leave(deadlineMs: number): Promise<void>;
}

const forgetEveryBeats = 30;

export function createReplicaCoordinator(
  options: ReplicaCoordinatorOptions,
  deps: {
    logger: Logger;
    ceilings: PoolCeilings;
    observer: CoordinatorObserver;
    closer: ConnectionCloser;
    now?: () => number;
  },
): ReplicaCoordinator {
  const { shape, heartbeatMs, leaseMs } = options;
  const { ceilings, observer, closer } = deps;
  const now = deps.now ?? (() => performance.now());
  const logger = deps.logger.child({ component: 'replica-coordinator' });
  const stepTimeoutMs = 2 * heartbeatMs;
  let replicaId: string | undefined;
  /** This replica's own earlier claims (it fenced itself): retired as soon as MySQL answers. */
  const lapsed = new Set<string>();
  const claimObserver = createClaimObserver({ leaseMs }, { now });
  // After a reconnect its connection registers under the claim again: a retirement kills what is registered.
  const session = createCoordinationSession(
    { connection: options.connection, connectTimeoutMs: Math.max(1000, heartbeatMs) },
    {
      closer,
      prepare: async (fresh) => {
        if (replicaId !== undefined) await claims.registerCoordinator(fresh, replicaId);
      },
    },
  );
  let granted = 0;
  let live = 0;
  let limits: ServerLimits | undefined;
  let beats = 0;
  let fenceTimer: NodeJS.Timeout | undefined;
  let loopTimer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let leaving: Promise<void> | undefined;

  function fence(reason: string): void {
    clearTimeout(fenceTimer);
    if (replicaId === undefined) return;
    logger.warn({ replicaId, reason }, 'replica fenced: its share is withdrawn until it joins again');
    lapsed.add(replicaId);
    replicaId = undefined;
    granted = 0;
    ceilings.set(0, undefined);
    observer.fenced();
  }

  const observe = (rows: readonly claims.ClaimRow[]) => claimObserver.observe(rows, { self: replicaId, lapsed });

  async function step(signal: AbortSignal): Promise<void> {
    const stillMine = () => {
      if (signal.aborted) throw new DeadlineError('coordination step');
    };
    const conn = await session.connection();
    stillMine();
    if (replicaId === undefined) {
      const id = randomBytes(16).toString('hex');
      // Counted as lapsed until this step owns it: an insert that commits after the step gave up is retired at once.
      lapsed.add(id);
      await claims.insertClaim(conn, id, shape, wantedBy(shape), leaseMs);
      stillMine();
      lapsed.delete(id);
      replicaId = id;
      logger.info({ replicaId }, 'replica joined: announced with no grant yet');
    }
    const id = replicaId;
    const sentAt = now();
    const renewed = await claims.renewClaim(conn, id, leaseMs);
    stillMine();
    if (!renewed) return fence('its claim was retired');
    // Fenced by the local deadline while the renewal was under way: the fence stands, the next beat joins again.
    if (replicaId !== id) return;
    armFence(sentAt);
    limits = await readServerLimits(conn);
    const usable = effectiveLimit(limits).limit - options.reservedConnections;
    const bound = Math.max(ceilings.bound(), ceilings.current());
    const rows = await claims.readClaims(conn);
    stillMine();
    let views = observe(rows);
    const published = views.find((claim) => claim.id === id)?.granted ?? 0;
    let plan = planStep({ id, shape, bound }, views, usable);
    if (plan.grows) {
      try {
        await claims.growGrant(conn, id, (fresh) => {
          views = observe(fresh);
          plan = planStep({ id, shape, bound }, views, usable);
          return plan.grows ? plan.granted : undefined;
        });
      } catch (error) {
        // Someone holds the claims lock (a replica that stalled mid-step, until MySQL ends its session): grow later.
        logger.info({ code: errorCode(error), replicaId: id }, 'could not grow this beat; trying again');
        const ceiling = Math.min(ceilingFor(shape, published), ceilingFor(shape, plan.target));
        plan = { granted: published, target: plan.target, ceiling, grows: false };
      }
    } else if (plan.granted < published) await claims.publishGrant(conn, id, plan.granted);
    stillMine();
    if (replicaId !== id) return;
    const before = granted;
    granted = plan.granted;
    live = views.filter((claim) => !claim.expired).length;
    if (granted !== before) observer.shareChanged(granted > before ? 'grow' : 'shrink');
    if (plan.ceiling !== ceilings.current())
      logger.info({ replicaId: id, ceiling: plan.ceiling, granted, target: plan.target, live }, 'pool ceiling changed');
    // Raised only after the grant that covers it is committed; lowered now, published once the pools confirm.
    ceilings.set(plan.ceiling, id);
    await retire(conn, views, stillMine);
    if (++beats % forgetEveryBeats === 0) await claims.forgetEndedThreads(conn);
  }

  /** Claims nobody renews any more (and this replica's own lapsed ones): kill their threads, then free their grants. */
  async function retire(conn: Connection, views: readonly ClaimView[], stillMine: () => void): Promise<void> {
    const ended = views.filter((claim) => claim.expired);
    if (ended.length === 0) return;
    await claims.markRetired(
      conn,
      ended.map((claim) => claim.id),
    );
    for (const claim of ended) {
      stillMine();
      if (await claims.retireStep(conn, claim.id)) {
        lapsed.delete(claim.id);
        logger.warn({ replicaId: claim.id }, 'retired a replica that stopped renewing (its threads killed)');
      }
    }
  }

  function armFence(renewalSentAt: number): void {
    clearTimeout(fenceTimer);
    const fenceAt = renewalSentAt + leaseMs - heartbeatMs;
    fenceTimer = setTimeout(
      () => fence(`no lease renewal for ${leaseMs - heartbeatMs} ms`),
      Math.max(0, fenceAt - now()),
    );
  }

  async function beat(): Promise<void> {
    try {
      await withDeadline(stepTimeoutMs, step, { what: 'coordination step' });
    } catch (error) {
      observer.renewFailed();
      logger.warn({ code: errorCode(error), replicaId }, 'coordination step failed; reconnecting');
      session.drop();
    } finally {
      observer.observed(budget());
    }
  }

  function schedule(): void {
    if (stopped) return;
    loopTimer = setTimeout(() => {
      running = beat().finally(schedule);
    }, heartbeatMs);
  }

  function budget(): ConnectionBudget {
    return liveBudget({
      limits,
      reservedConnections: options.reservedConnections,
      shape,
      workers: options.workers,
      replicas: live,
      ceiling: ceilings.current(),
      granted,
    });
  }

  return {
    budget,
    async start(waitMs) {
      const giveUpAt = now() + waitMs;
      running = beat();
      await running;
      // Joining takes a beat to announce and more for the others to shrink: wait for a first share, not forever.
      while (ceilings.current() < 1 && now() < giveUpAt && !stopped) {
        await new Promise((resolve) => setTimeout(resolve, heartbeatMs));
        running = beat();
        await running;
      }
      schedule();
    },
    reconnect() {
      session.drop(session.current(), 'quit');
    },
    async query<T>(sql: string, timeoutMs: number): Promise<T> {
      const opened = session.current();
      try {
        return await withDeadline(
          timeoutMs,
          async () => {
            const [rows] = await (await session.connection()).query(sql);
            return rows as T;
          },
          { what: 'status read' },
        );
      } catch (error) {
        // A read that timed out left its command queued on the connection: the next step gets a fresh one.
        if (error instanceof DeadlineError) session.drop(opened ?? session.current());
        throw error;
      }
    },
    leave(deadlineMs) {
      leaving ??= (async () => {
        const giveUpAt = now() + deadlineMs;
        stopped = true;
        clearTimeout(loopTimer);
        const id = replicaId;
        try {
          await withDeadline(deadlineMs, () => running, { what: 'the last coordination step' }).catch(() => {});
          clearTimeout(fenceTimer);
          replicaId = undefined;
          ceilings.set(0, undefined);
          if (id !== undefined)
            await withDeadline(giveUpAt - now(), async () => claims.deleteClaim(await session.connection(), id), {
              what: 'deleting the claim',
            });
          logger.info({ replicaId: id }, 'replica left: its grant is free');
        } catch (error) {
          logger.warn(
            { code: errorCode(error), replicaId: id },
            `could not delete the claim; the others retire it once it has not changed for ${leaseMs} ms`,
          );
        } finally {
          ceilings.stop();
          await session.close(Math.max(0, giveUpAt - now()));
        }
      })();
      return leaving;
    },
  };
}
