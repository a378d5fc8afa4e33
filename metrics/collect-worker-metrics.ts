import type { Worker } from 'node:cluster';
import type { Registry } from 'prom-client';
import { isMetricsResponse, type PrimaryMessage } from '../server/cluster/messages.js';

/** One process's metrics as prom-client's getMetricsAsJSON() returns them. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

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
 * Asks every worker for its metrics over IPC and waits at most `timeoutMs` for each. Unlike prom-client's
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
      worker.send({ type: 'metrics:request', id } satisfies PrimaryMessage, (error: Error | null) => {
        if (error) finish(undefined);
      });
    });
  }

  return async function collect(sources: readonly MetricsSource[]): Promise<WorkerMetricsResult> {
    const results = await Promise.all(sources.map(askOne));
    const answered: MetricsJson[] = [];
    const failedSlots: number[] = [];
    results.forEach((result, index) => (result ? answered.push(result) : failedSlots.push(sources[index]!.slot)));
    return { answered, failedSlots };
  };
}
