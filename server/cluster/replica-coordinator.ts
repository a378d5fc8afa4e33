import { randomBytes } from 'node:crypto';
import type { Connection } from 'mysql2/promise';
import type { Logger } from 'pino';
import type { DbConnectionOptions } from '../config/config.js';
import { openAdminConnection, readServerLimits } from '../db/admin-connection.js';
import { liveBudget, type ConnectionBudget } from '../budget/connection-budget.js';
import { planStep } from '../budget/live-shares.js';
import { wantedBy, type ReplicaShape } from '../budget/replica-shape.js';
import { effectiveLimit, type ServerLimits } from '../budget/server-limits.js';
import { errorCode } from '../db/db-errors.js';
import * as claims from '../db/replica-claims.js';
import type { PoolCeilings } from './pool-ceilings.js';

/*
 * APP_REPLICAS=auto: the primary's side of the live budget. Every `heartbeatMs`, on its one coordination connection:
 * renew the lease, publish a lower grant once the workers' pools are down to it, grow into free room up to the fair
 * share, tell the workers the ceiling, and retire the claims of replicas that stopped renewing (server/db/replica-claims.ts).
 *
 * Order is what keeps Σ of every replica's connections ≤ limit − reserve: a grant is raised before the pools may grow,
 * and lowered only after they have shrunk. A replica that cannot renew for `leaseMs − heartbeatMs` (by its own
 * monotonic clock, measured from before the last renewal was sent) fences itself: ceiling 0, every pool closes what
 * comes home, requests get 503. Others may take its grant only once the lease has run out on MySQL's clock and its
 * threads are killed, so the fenced replica always stops first. It then joins again as a new claim.
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
  /** After every step: the budget as this replica sees it and its published grant. */
  observed(budget: ConnectionBudget, granted: number): void;
  shareChanged(direction: 'grow' | 'shrink'): void;
  renewFailed(): void;
  fenced(): void;
}

export interface ReplicaCoordinator {
  /** Joins and waits (up to `waitMs`) for a first share; the replica starts with ceiling 0 if none came. */
  start(waitMs: number): Promise<void>;
  budget(): ConnectionBudget;
  /** Registers a primary-side connection (the MySQL status reader's) under the claim; false: close it. */
  register(connection: Connection): Promise<boolean>;
  /** After every pool is closed: frees the grant at once. Idempotent. */
  leave(): Promise<void>;
}

const retireWaitMs = 1500;
const forgetEveryBeats = 30;

export function createReplicaCoordinator(
  options: ReplicaCoordinatorOptions,
  deps: { logger: Logger; ceilings: PoolCeilings; observer: CoordinatorObserver; now?: () => number },
): ReplicaCoordinator {
  const { shape, heartbeatMs, leaseMs } = options;
  const { ceilings, observer } = deps;
  const now = deps.now ?? (() => performance.now());
  const logger = deps.logger.child({ component: 'replica-coordinator' });
  const stepTimeoutMs = Math.max(heartbeatMs * 2, retireWaitMs + heartbeatMs);
  let connection: Connection | undefined;
  let replicaId: string | undefined;
  let lapsedId: string | undefined;
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
    lapsedId = replicaId;
    replicaId = undefined;
    granted = 0;
    ceilings.set(0, undefined);
    observer.fenced();
  }

  async function connect(): Promise<Connection> {
    const fresh = await openAdminConnection(options.connection, stepTimeoutMs);
    (fresh as unknown as NodeJS.EventEmitter).on('error', () => {
      if (connection === fresh) connection = undefined;
    });
    await claims.forgetRegistrationsBeforeBoot(fresh);
    return fresh;
  }

  async function join(conn: Connection): Promise<void> {
    if (lapsedId !== undefined && (await claims.retireClaim(conn, lapsedId, retireWaitMs))) lapsedId = undefined;
    const id = randomBytes(16).toString('hex');
    await claims.withClaimsLock(conn, () => claims.insertClaim(conn, id, wantedBy(shape), leaseMs));
    replicaId = id;
    logger.info({ replicaId }, 'replica joined: announced with no grant yet');
  }

  async function step(): Promise<void> {
    const sentAt = now();
    connection ??= await connect();
    const conn = connection;
    if (replicaId === undefined) await join(conn);
    const id = replicaId!;
    limits = await readServerLimits(conn);
    const usable = effectiveLimit(limits).limit - options.reservedConnections;
    const outcome = await claims.withClaimsLock(conn, async (rows) => {
      if (!(await claims.renewClaim(conn, id, leaseMs))) return undefined;
      const before = rows.find((row) => row.id === id)?.granted ?? 0;
      const plan = planStep({ id, shape, bound: Math.max(ceilings.bound(), ceilings.current()) }, rows, usable);
      if (plan.granted !== before) await claims.publishGrant(conn, id, plan.granted);
      const others = rows.filter((row) => row.id !== id);
      return {
        before,
        ...plan,
        live: 1 + others.filter((row) => !row.expired).length,
        expired: others.filter((row) => row.expired).map((row) => row.id),
      };
    });
    if (!outcome) return fence('lease expired before it was renewed');
    // Fenced by the local deadline while this step ran: the fence stands, the next beat joins again.
    if (replicaId !== id) return;
    armFence(sentAt);
    granted = outcome.granted;
    live = outcome.live;
    if (granted !== outcome.before) observer.shareChanged(granted > outcome.before ? 'grow' : 'shrink');
    // Raised only after the grant that covers it is committed; lowered now, published once the pools confirm.
    if (outcome.ceiling !== ceilings.current())
      logger.info(
        { replicaId: id, ceiling: outcome.ceiling, granted, target: outcome.target, live },
        'pool ceiling changed',
      );
    ceilings.set(outcome.ceiling, id);
    for (const expired of outcome.expired) {
      if (await claims.retireClaim(conn, expired, retireWaitMs))
        logger.warn({ replicaId: expired }, 'retired a replica whose lease ran out (its threads killed)');
    }
    if (++beats % forgetEveryBeats === 0) await claims.forgetEndedThreads(conn, id);
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
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>(
      (_, reject) =>
        (timer = setTimeout(
          () => reject(Object.assign(new Error('coordination step timed out'), { code: 'STEP_TIMEOUT' })),
          stepTimeoutMs,
        )),
    );
    const work = step();
    try {
      await Promise.race([work, deadline]);
    } catch (error) {
      work.catch(() => {});
      observer.renewFailed();
      logger.warn({ code: errorCode(error), replicaId }, 'lease renewal failed; reconnecting');
      connection?.destroy();
      connection = undefined;
    } finally {
      clearTimeout(timer);
      observer.observed(budget(), granted);
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
      while (ceilings.current() < 1 && now() < giveUpAt) {
        await new Promise((resolve) => setTimeout(resolve, heartbeatMs));
        running = beat();
        await running;
      }
      schedule();
    },
    async register(conn) {
      const id = replicaId;
      return id !== undefined && (await claims.registerConnection(conn, id, options.connection.database));
    },
    leave() {
      leaving ??= (async () => {
        stopped = true;
        clearTimeout(loopTimer);
        await running.catch(() => {});
        clearTimeout(fenceTimer);
        const id = replicaId;
        replicaId = undefined;
        ceilings.set(0, undefined);
        try {
          if (id !== undefined) {
            connection ??= await connect();
            await claims.deleteClaim(connection, id);
          }
          logger.info({ replicaId: id }, 'replica left: its grant is free');
        } catch (error) {
          logger.warn(
            { code: errorCode(error), replicaId: id },
            `could not delete the claim; it expires within ${leaseMs} ms`,
          );
        } finally {
          await connection?.end().catch(() => connection?.destroy());
          connection = undefined;
          ceilings.stop();
        }
      })();
      return leaving;
    },
  };
}
