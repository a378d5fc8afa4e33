import type { Config } from '../config/config.js';
import { deepFreeze } from '../config/load-config.js';
import type { ConnectionBudget } from '../budget/connection-budget.js';

/** Everything a worker needs, decided once by the primary and handed over in the fork environment. */
export interface WorkerSpec {
  readonly config: Config;
  readonly budget: ConnectionBudget;
  /** Stable 0-based position; a replacement worker takes the slot (and `worker` label) of the one it replaces. */
  readonly slot: number;
  /** APP_REPLICAS=auto: the claim its pool connections register under (budget.perWorker is then the live ceiling). */
  readonly replicaId?: string | undefined;
}

export const workerSpecVariable = 'APP_WORKER_SPEC';

export function encodeWorkerSpec(spec: WorkerSpec): string {
  return JSON.stringify(spec);
}

export function decodeWorkerSpec(raw: string | undefined): WorkerSpec {
  if (raw === undefined)
    throw new Error(`${workerSpecVariable} is missing: workers are started by the primary, not directly`);
  return deepFreeze(JSON.parse(raw) as WorkerSpec);
}

/*
 * Every message between the primary and its workers, in one place (as prom-client's cluster.js namespaces its own):
 * one union per direction, one guard that reads a raw IPC message into it (anything else on the channel is ignored),
 * and one inbox per side that hands each message to the handlers of its type. Lifecycle (`ready`, `heartbeat`,
 * `shutdown`), live shares (`pool:*`), metrics (`metrics:*`), listening sockets (`listen:*`) and keep-alive rebalancing
 * (`connections:*`) share the channel and are told apart by `type`. A `listen:socket`, `listen:adopt` or `listen:keep`
 * travels with a socket handle (node:child_process's second argument).
 */

/**
 * `stop`: the whole service is stopping (SIGTERM): honour the readiness delay so the load balancer drains first.
 * `replace`: a rolling reload replaces this worker while the others keep serving: drain at once.
 */
export type ShutdownKind = 'stop' | 'replace';

/** Primary → worker. */
export type PrimaryMessage =
  | { readonly type: 'shutdown'; readonly kind: ShutdownKind }
  /** APP_REPLICAS=auto: the pool's new ceiling, and the claim new connections register under. */
  | { readonly type: 'pool:ceiling'; readonly ceiling: number; readonly replicaId: string | undefined }
  /** A crashed worker's restart is ready: ask the connections held now to reconnect (connection-rebalance.ts). */
  | { readonly type: 'connections:rebalance'; readonly slot: number }
  /** Your registry's metrics, please, answered with the same id. */
  | { readonly type: 'metrics:request'; readonly id: number }
  /** `count` sockets of your slot follow, one per `listen:socket` (0: open your own and `listen:keep` them). */
  | { readonly type: 'listen:offer'; readonly count: number }
  | { readonly type: 'listen:socket' }
  /** With one socket of another slot (its worker crashed): accept on it too until `listen:release` for that slot. */
  | { readonly type: 'listen:adopt'; readonly slot: number }
  | { readonly type: 'listen:release'; readonly slot: number };

/** Worker → primary. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'heartbeat' }
  /** The pool holds no more than `ceiling` connections on the server (closed ones are gone, not just released). */
  | { readonly type: 'pool:settled'; readonly ceiling: number }
  /** The answer to `metrics:request` `id`: prom-client's getMetricsAsJSON(). */
  | { readonly type: 'metrics:response'; readonly id: number; readonly metrics: unknown[] }
  /** Your copies of my slot's `count` sockets, if you hold them; otherwise I open them and `listen:keep` each. */
  | { readonly type: 'listen:want'; readonly count: number }
  /** With one socket: keep a copy for my slot's next worker. */
  | { readonly type: 'listen:keep' };

type Fields = Record<string, unknown>;
type Shapes<M extends { type: string }> = { readonly [T in M['type']]: (message: Fields) => boolean };

const isNumber = (value: unknown) => typeof value === 'number';
const always = () => true;

const primaryShapes: Shapes<PrimaryMessage> = {
  shutdown: (m) => m['kind'] === 'stop' || m['kind'] === 'replace',
  'pool:ceiling': (m) => isNumber(m['ceiling']) && (m['replicaId'] === undefined || typeof m['replicaId'] === 'string'),
  'connections:rebalance': (m) => isNumber(m['slot']),
  'metrics:request': (m) => isNumber(m['id']),
  'listen:offer': (m) => isNumber(m['count']),
  'listen:socket': always,
  'listen:adopt': (m) => isNumber(m['slot']),
  'listen:release': (m) => isNumber(m['slot']),
};

const workerShapes: Shapes<WorkerMessage> = {
  ready: always,
  heartbeat: always,
  'pool:settled': (m) => isNumber(m['ceiling']),
  'metrics:response': (m) => isNumber(m['id']) && Array.isArray(m['metrics']),
  'listen:want': (m) => isNumber(m['count']),
  'listen:keep': always,
};

function reader<M extends { type: string }>(shapes: Shapes<M>): (value: unknown) => M | undefined {
  return (value) => {
    if (typeof value !== 'object' || value === null) return undefined;
    const fields = value as Fields;
    const shape = Object.hasOwn(shapes, String(fields['type'])) ? shapes[fields['type'] as M['type']] : undefined;
    return shape?.(fields) ? (value as M) : undefined;
  };
}

/** The one guard of each direction: the message, or undefined for anything else on the channel. */
export const readPrimaryMessage = reader<PrimaryMessage>(primaryShapes);
export const readWorkerMessage = reader<WorkerMessage>(workerShapes);

type Handler<M, Extra extends unknown[]> = (message: M, ...extra: Extra) => void;

/**
 * One side's dispatcher. The worker's gets the socket handle with each message; the primary's, the worker that sent
 * it and the handle.
 */
export interface Inbox<M extends { type: string }, Extra extends unknown[]> {
  /** Calls `handler` with every message of `type`; returns the function that stops it. */
  on<T extends M['type']>(type: T, handler: Handler<Extract<M, { type: T }>, Extra>): () => void;
  /** Calls `handler` with every message, whatever its type. */
  onAny(handler: Handler<M, Extra>): () => void;
  /** Hands one raw IPC message to its handlers; attach it once to the channel's 'message' event. */
  deliver(value: unknown, ...extra: Extra): void;
}

export function createInbox<M extends { type: string }, Extra extends unknown[]>(
  read: (value: unknown) => M | undefined,
): Inbox<M, Extra> {
  const handlers = new Map<string, Set<Handler<M, Extra>>>();
  const any = new Set<Handler<M, Extra>>();
  const add = (set: Set<Handler<M, Extra>>, handler: Handler<M, Extra>) => {
    set.add(handler);
    return () => void set.delete(handler);
  };
  return {
    on(type, handler) {
      const set = handlers.get(type) ?? new Set();
      handlers.set(type, set);
      return add(set, handler as Handler<M, Extra>);
    },
    onAny: (handler) => add(any, handler),
    deliver(value, ...extra) {
      const message = read(value);
      if (!message) return;
      for (const handler of [...any, ...(handlers.get(message.type) ?? [])]) handler(message, ...extra);
    },
  };
}

/** The worker's inbox: messages from the primary, with the socket handle some carry. */
export type WorkerInbox = Inbox<PrimaryMessage, [handle: unknown]>;
/** The primary's inbox: messages from every worker, with the sender and the handle some carry. */
export type PrimaryInbox<W> = Inbox<WorkerMessage, [worker: W, handle: unknown]>;

/**
 * How often a ready worker sends its heartbeat: four chances to be heard within the primary's heartbeat timeout,
 * never more often than every 50 ms.
 */
export function heartbeatIntervalMs(heartbeatTimeoutMs: number): number {
  return Math.max(50, Math.floor(heartbeatTimeoutMs / 4));
}
