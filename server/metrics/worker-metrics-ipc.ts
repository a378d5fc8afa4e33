import type { Worker } from 'node:cluster';
import type { Registry } from 'prom-client';

/*
 * The metrics IPC between the primary and its workers, both ends: the primary asks every worker for its registry over
 * the cluster channel and aggregates the answers into one exposition (create-metrics-server.ts). Lifecycle messages
 * (ready, heartbeat, shutdown) are server/protocol/messages.ts; these share the channel and are told apart by `type`.
 */

/** One process's metrics as prom-client's getMetricsAsJSON() returns them. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Primary → worker. */
export interface MetricsRequest {
  readonly type: 'metrics:request';
  readonly id: number;
}
/** Worker → primary: the answer to the request with the same id. */
export interface MetricsResponse {
  readonly type: 'metrics:response';
  readonly id: number;
  readonly metrics: unknown[];
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
export const isMetricsRequest = (value: unknown): value is MetricsRequest =>
  isObject(value) && value['type'] === 'metrics:request' && typeof value['id'] === 'number';
export const isMetricsResponse = (value: unknown): value is MetricsResponse =>
  isObject(value) && value['type'] === 'metrics:response' && Array.isArray(value['metrics']);

/** The worker's end of the channel: what it needs of `process`. */
export interface WorkerChannel {
  on(event: 'message', listener: (message: unknown) => void): unknown;
  send?(message: MetricsResponse): unknown;
}

/**
 * Worker side: answers every metrics request with `registry()`'s metrics. Answered from the start: while the worker
 * is starting, with no series yet, so a scrape during a restart or reload does not wait out its per-worker timeout
 * and count this worker as missing.
 */
export function answerMetricsRequests(channel: WorkerChannel, registry: () => Registry | undefined): void {
  channel.on('message', (message: unknown) => {
    if (!isMetricsRequest(message)) return;
    void (registry()?.getMetricsAsJSON() ?? Promise.resolve([])).then((metrics) =>
      channel.send?.({ type: 'metrics:response', id: message.id, metrics }),
    );
  });
}

export interface MetricsSource {
  readonly slot: number;
  readonly worker: Worker;
}

export interface WorkerMetricsResult {
  /** One getMetricsAsJSON() result per worker that answered in time. */
  readonly answered: MetricsJson[];
  /** Slots of the workers that did not answer within the timeout (stopped, hung, exiting). */
  readonly failedSlots: number[];
}

/**
 * Primary side: asks every worker for its metrics over IPC and waits at most `timeoutMs` for each. Unlike prom-client's
 * AggregatorRegistry.clusterMetrics(), one slow or stopped worker does not fail the whole scrape after 5 s
 * (siimon/prom-client #290, #385): the scrape answers with the workers that replied.
 */
export function createWorkerMetricsCollector(options: { readonly timeoutMs: number }) {
  let nextId = 1;

  function askOne(source: MetricsSource): Promise<MetricsJson | undefined> {
    const id = nextId++;
    const { worker } = source;
    return new Promise((resolve) => {
      const finish = (result: MetricsJson | undefined) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        resolve(result);
      };
      const onMessage = (message: unknown) => {
        if (isMetricsResponse(message) && message.id === id) finish(message.metrics as MetricsJson);
      };
      const onExit = () => finish(undefined);
      const timer = setTimeout(() => finish(undefined), options.timeoutMs);
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      if (!worker.isConnected()) return finish(undefined);
      worker.send({ type: 'metrics:request', id } satisfies MetricsRequest, (error: Error | null) => {
        if (error) finish(undefined);
      });
    });
  }

  return async function collect(sources: readonly MetricsSource[]): Promise<WorkerMetricsResult> {
    const results = await Promise.all(sources.map(askOne));
    const answered: MetricsJson[] = [];
    const failedSlots: number[] = [];
    results.forEach((result, index) => {
      if (result) answered.push(result);
      else failedSlots.push(sources[index]!.slot);
    });
    return { answered, failedSlots };
  };
}
