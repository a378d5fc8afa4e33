import type { Worker } from 'node:cluster';
import type { Registry } from 'prom-client';
import type { PrimaryInbox, PrimaryMessage, WorkerInbox, WorkerMessage } from '../protocol/messages.js';

/*
 * The metrics IPC between the primary and its workers, both ends: the primary asks every worker for its registry over
 * the cluster channel and aggregates the answers into one exposition (create-metrics-server.ts). The messages are
 * `metrics:*` of the one protocol (server/protocol/messages.ts).
 */

/** One process's metrics as prom-client's getMetricsAsJSON() returns them. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/**
 * Worker side: answers every metrics request with `registry()`'s metrics. Answered from the start: while the worker
 * is starting, with no series yet, so a scrape during a restart or reload does not wait out its per-worker timeout
 * and count this worker as missing.
 */
export function answerMetricsRequests(
  inbox: WorkerInbox,
  send: (message: WorkerMessage) => void,
  registry: () => Registry | undefined,
): void {
  inbox.on('metrics:request', ({ id }) => {
    void (registry()?.getMetricsAsJSON() ?? Promise.resolve([])).then((metrics) =>
      send({ type: 'metrics:response', id, metrics }),
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
export function createWorkerMetricsCollector(
  options: { readonly timeoutMs: number },
  deps: { readonly inbox: PrimaryInbox<Worker> },
) {
  let nextId = 1;
  // The requests waiting for their answer, by id.
  const waiting = new Map<number, (metrics: MetricsJson) => void>();
  deps.inbox.on('metrics:response', (message) => waiting.get(message.id)?.(message.metrics as MetricsJson));

  function askOne(source: MetricsSource): Promise<MetricsJson | undefined> {
    const id = nextId++;
    const { worker } = source;
    return new Promise((resolve) => {
      const finish = (result: MetricsJson | undefined) => {
        clearTimeout(timer);
        waiting.delete(id);
        worker.off('exit', onExit);
        resolve(result);
      };
      const onExit = () => finish(undefined);
      const timer = setTimeout(() => finish(undefined), options.timeoutMs);
      waiting.set(id, finish);
      worker.once('exit', onExit);
      if (!worker.isConnected()) return finish(undefined);
      worker.send({ type: 'metrics:request', id } satisfies PrimaryMessage, (error: Error | null) => {
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
