import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { startCluster, type ClusterProcess, type StartClusterOptions } from './cluster-process.js';
import { startMovingEndpoint, type MovingEndpoint } from './moving-endpoint.js';
import { startReplicatedMariadb, type ReplicatedMariadb } from './replicated-mariadb.js';
import type { ThrowawayMariadb } from './throwaway-mariadb.js';
import { KeepAliveConnection } from './keep-alive-connection.js';
import { send, type Call, type Sample } from './traffic.js';

/*
 * A failover drill, shared by the chaos test (test/chaos/failover-under-load.test.ts) and `npm run bench:failover`:
 * the service connects as `app` through a moving endpoint to a replicated MariaDB pair, under a mixed load of
 * /api/me reads, registrations and logins; a switchover or an unplanned failover happens in the middle; what every
 * client saw is recorded with the moments that matter (when writes stopped, when the new primary was reachable).
 */

const password = 'correct horse battery staple';

export interface FailoverTopology {
  readonly pair: ReplicatedMariadb;
  readonly endpoint: MovingEndpoint;
  /** The service's DATABASE_URL: the endpoint, as `app`. */
  readonly databaseUrl: string;
  destroy(): Promise<void>;
}

export async function startFailoverTopology(options: { readonly semiSync: boolean }): Promise<FailoverTopology> {
  const pair = await startReplicatedMariadb({ semiSync: options.semiSync });
  const endpoint = await startMovingEndpoint(pair.primary().port);
  return {
    pair,
    endpoint,
    databaseUrl: pair.appUrl(endpoint.port),
    async destroy() {
      await endpoint.close();
      await pair.destroy();
    },
  };
}

/** The service, as a cluster, on the topology's endpoint (which is first pointed at the primary). */
export function startServiceOn(
  topology: FailoverTopology,
  env: Record<string, string>,
  options: StartClusterOptions = {},
): Promise<ClusterProcess> {
  topology.endpoint.moveTo(topology.pair.primary().port);
  return startCluster({ WORKERS: '2', DATABASE_URL: topology.databaseUrl, ...env }, options);
}

export interface DrillUser {
  readonly email: string;
  readonly token: string;
}

/** Users registered and logged in before the drill: their sessions are what the reads read. */
export async function prepareUsers(url: string, count: number, prefix: string): Promise<DrillUser[]> {
  const users: DrillUser[] = [];
  for (let i = 0; i < count; i++) {
    const email = `${prefix}-user-${i}-${randomUUID().slice(0, 8)}@example.test`;
    const created = await send(url, { method: 'POST', path: '/api/users', json: { email, password, name: prefix } });
    if (created.status !== 201) throw new Error(`register before the drill: ${created.status} ${created.body}`);
    const login = await send(url, { method: 'POST', path: '/api/login', json: { email, password } });
    if (login.status !== 200) throw new Error(`login before the drill: ${login.status} ${login.body}`);
    users.push({ email, token: String((JSON.parse(login.body) as { token: unknown }).token) });
  }
  return users;
}

export type OpKind = 'read' | 'register' | 'login';

/** One request of the drill: what it was (a registration's email and Idempotency-Key) and what became of it. */
export interface Op {
  readonly kind: OpKind;
  readonly call: Call;
  readonly email: string;
  readonly key: string;
  readonly sample: Sample;
}

export interface MixedLoad {
  /** Ends every client after its request in flight; resolves with every request. */
  stop(): Promise<Op[]>;
}

/**
 * `clients` keep-alive clients in closed loops, a third each reading /api/me, registering new accounts and logging in
 * (registrations and logins with an Idempotency-Key, as a client that retries after a 504 sends them).
 */
export function startMixedLoad(
  url: string,
  users: readonly DrillUser[],
  options: {
    readonly clients: number;
    readonly run: string;
    readonly timeoutMs: number;
    /** After a 503 or 504, wait its Retry-After before the next request, as a well-behaved client does. */
    readonly honorRetryAfter?: boolean;
  },
): MixedLoad {
  const ops: Op[] = [];
  let stopped = false;
  const kinds: OpKind[] = ['read', 'register', 'login'];
  const client = async (n: number) => {
    const connection = new KeepAliveConnection(new URL(url).origin);
    const kind = kinds[n % kinds.length]!;
    try {
      for (let i = 0; !stopped; i++) {
        const user = users[(n + i) % users.length]!;
        const key = randomUUID();
        const email = kind === 'register' ? `${options.run}-c${n}-${i}@example.test` : user.email;
        const call: Call =
          kind === 'read'
            ? { path: '/api/me', headers: { Authorization: `Bearer ${user.token}` } }
            : {
                method: 'POST',
                path: kind === 'register' ? '/api/users' : '/api/login',
                headers: { 'Idempotency-Key': `"${key}"` },
                json: kind === 'register' ? { email, password, name: options.run } : { email, password },
              };
        const sample = await send(url, call, { connection, timeoutMs: options.timeoutMs, client: n });
        ops.push({ kind, call, email, key, sample });
        const retryAfter = Number(sample.retryAfter);
        if (options.honorRetryAfter && sample.status !== undefined && sample.status >= 500 && retryAfter > 0)
          await sleep(retryAfter * 1000);
      }
    } finally {
      await connection.close();
    }
  };
  const running = Promise.all(Array.from({ length: options.clients }, (_, n) => client(n)));
  return {
    async stop() {
      stopped = true;
      await running;
      return ops;
    },
  };
}

/** The moments of a failover, epoch ms. */
export interface FailoverMoments {
  /** Writes stopped: the old primary set read-only (switchover), or killed (unplanned). */
  readonly cutAt: number;
  /** The new primary is reachable: the endpoint moved to it. */
  readonly reachableAt: number;
  /** The new primary. */
  readonly primary: ThrowawayMariadb;
}

/** A planned switchover (the old primary read-only, the replica caught up and promoted), then the endpoint moves. */
export async function switchover(topology: FailoverTopology): Promise<FailoverMoments> {
  const cutAt = Date.now();
  const primary = await topology.pair.switchover();
  topology.endpoint.moveTo(primary.port);
  return { cutAt, reachableAt: Date.now(), primary };
}

/** kill -9 of the primary; nothing behind the endpoint for `downMs`; the replica promoted; the endpoint moves. */
export async function unplannedFailover(topology: FailoverTopology, downMs: number): Promise<FailoverMoments> {
  const cutAt = Date.now();
  await topology.pair.primary().kill();
  topology.endpoint.moveTo(undefined);
  await sleep(downMs);
  const primary = await topology.pair.promote();
  topology.endpoint.moveTo(primary.port);
  return { cutAt, reachableAt: Date.now(), primary };
}

const succeeded = (op: Op) => op.sample.status !== undefined && op.sample.status < 400;
const isWrite = (op: Op) => op.kind !== 'read';

/** What the clients saw of one failover. */
export interface FailoverFigures {
  readonly requests: number;
  /** Failed (no status, or 5xx), by kind. */
  readonly failed: Record<OpKind, number>;
  /** Requests answered 503 or 504, and requests without an answer at all (client timeout, socket error). */
  readonly status503: number;
  readonly status504: number;
  readonly unanswered: number;
  /** Writes in flight when writes stopped (started before, answered after). */
  readonly writesInFlightAtCut: number;
  /** From the new primary being reachable to the first write answered 2xx after it; undefined: none. */
  readonly firstWriteMs: number | undefined;
  /**
   * From the new primary being reachable until clients stopped failing: the end of the last failed request that
   * started after it (0 when none did), at least firstWriteMs. `stillFailing`: a request failed in the last second.
   */
  readonly recoveryMs: number | undefined;
  readonly stillFailing: boolean;
  /**
   * From the new primary being reachable until every client had been served again (its first 2xx that ended after
   * it), ms: the last client's. A client waiting out a Retry-After is served again only after it.
   */
  readonly clientRecoveryMs: number;
  /**
   * How long some client was failing: the union of the failed requests' spans, start to answer, ms. A client whose
   * request waits for the new primary and then succeeds is not failing meanwhile; one answered 503 at once, that tries
   * again and is answered 503 again, is.
   */
  readonly errorWindowMs: number;
  /** The slowest answer, ms. */
  readonly slowestMs: number;
}

export function failoverFigures(ops: readonly Op[], moments: FailoverMoments): FailoverFigures {
  const failedOps = ops.filter((op) => !succeeded(op) && !(op.sample.status !== undefined && op.sample.status < 500));
  const failed: Record<OpKind, number> = { read: 0, register: 0, login: 0 };
  for (const op of failedOps) failed[op.kind]++;
  const firstWrite = ops
    .filter((op) => isWrite(op) && succeeded(op) && op.sample.endedAt >= moments.reachableAt)
    .reduce((first, op) => Math.min(first, op.sample.endedAt), Number.POSITIVE_INFINITY);
  const firstWriteMs = Number.isFinite(firstWrite) ? firstWrite - moments.reachableAt : undefined;
  const lastFailure = failedOps
    .filter((op) => op.sample.startedAt >= moments.reachableAt)
    .reduce((last, op) => Math.max(last, op.sample.endedAt - moments.reachableAt), 0);
  const end = ops.reduce((last, op) => Math.max(last, op.sample.endedAt), 0);
  return {
    requests: ops.length,
    failed,
    status503: ops.filter((op) => op.sample.status === 503).length,
    status504: ops.filter((op) => op.sample.status === 504).length,
    unanswered: ops.filter((op) => op.sample.status === undefined).length,
    writesInFlightAtCut: ops.filter(
      (op) => isWrite(op) && op.sample.startedAt <= moments.cutAt && op.sample.endedAt >= moments.cutAt,
    ).length,
    firstWriteMs,
    recoveryMs: firstWriteMs === undefined ? undefined : Math.max(firstWriteMs, lastFailure),
    stillFailing: failedOps.some((op) => op.sample.endedAt >= end - 1000),
    clientRecoveryMs: Math.max(
      ...[...new Set(ops.map((op) => op.sample.client))].map(
        (client) =>
          ops
            .filter((op) => op.sample.client === client && succeeded(op) && op.sample.endedAt >= moments.reachableAt)
            .reduce((first, op) => Math.min(first, op.sample.endedAt), Number.POSITIVE_INFINITY) - moments.reachableAt,
      ),
    ),
    errorWindowMs: unionMs(failedOps.map((op) => [op.sample.startedAt, op.sample.endedAt] as const)),
    slowestMs: ops.reduce((slowest, op) => Math.max(slowest, op.sample.ms), 0),
  };
}

/** The total length of a set of [start, end] spans, overlaps counted once. */
function unionMs(spans: readonly (readonly [number, number])[]): number {
  let total = 0;
  let reach = Number.NEGATIVE_INFINITY;
  for (const [start, end] of [...spans].sort((a, b) => a[0] - b[0])) {
    if (end <= reach) continue;
    total += end - Math.max(start, reach);
    reach = end;
  }
  return total;
}

/** Registrations answered 201 whose account the server does not hold. */
export async function missingAccounts(server: ThrowawayMariadb, ops: readonly Op[]): Promise<string[]> {
  const created = ops.filter((op) => op.kind === 'register' && op.sample.status === 201).map((op) => op.email);
  if (created.length === 0) return [];
  const connection = await createConnection(server.url);
  try {
    const [rows] = await connection.query<RowDataPacket[]>('SELECT email FROM users WHERE email IN (?)', [created]);
    const held = new Set(rows.map((row) => String(row['email'])));
    return created.filter((email) => !held.has(email));
  } finally {
    connection.destroy();
  }
}
