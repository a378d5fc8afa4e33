import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One Registry per process, never prom-client's global default (a global registry would need clearing between tests and mix processes). Every series carries a
 * `worker` label with the worker's slot, so the primary can aggregate workers without losing them.
 */
export function createProcessRegistry(worker: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ worker });
  collectProcessMetrics(registry);
  return registry;
}

/*
 * How often the event-loop lag is sampled. Each sample is a timer that wakes the loop, idle or not: at prom-client's
 * 10 ms that is a hundred wake-ups a second in every process, which costs an idle worker more CPU than everything
 * else it does, and a worker whose requests mostly wait (a login waits for its hash) pays it between every two
 * requests. At 100 ms a stall that matters (one a request would notice) still delays a sample every time.
 */
const eventLoopSampleMs = 100;

/** prom-client's process metrics (event-loop lag, CPU, memory, GC, handles) in `registry`, for every process. */
export function collectProcessMetrics(registry: Registry, labels?: Record<string, string>): void {
  collectDefaultMetrics({
    register: registry,
    eventLoopMonitoringPrecision: eventLoopSampleMs,
    ...(labels && { labels }),
  });
}
